"""Every enum of the seed data model, spelled verbatim, plus the few framegate adds."""

from enum import StrEnum
from operator import attrgetter


class ContractEnum(StrEnum):
    """The base of every enum of the contract: a `StrEnum` whose `value` is read by a C getter.

    pydantic reads `.value` of every enum field it serialises, and `Enum`'s own `value` is a
    Python-level descriptor on this interpreter: every record admission and the workers write
    would pay for it per field. The getter returns the same `_value_` the descriptor does; it is
    set after the class is made because a plain attribute in the class body would be a member.
    """


ContractEnum.value = property(attrgetter("_value_"))  # type: ignore[assignment,method-assign]


class ModelName(ContractEnum):
    """Heavy video models framegate serves (seed: `VideoGenerationConstraints.model`)."""

    anisora = "anisora"
    phr00t = "phr00t"


class LaneKey(ContractEnum):
    """Seed `VideoExecutionLane.lane_key`: one dedicated lane per heavy model."""

    anisora = "anisora"
    phr00t = "phr00t"


class RouteLane(ContractEnum):
    """Where admitted work can go: a dedicated lane, or the `shared` fallback lane."""

    anisora = "anisora"
    phr00t = "phr00t"
    shared = "shared"


class LaneMode(ContractEnum):
    dedicated = "dedicated"
    degraded_shared = "degraded_shared"


class Availability(ContractEnum):
    ready = "ready"
    cold = "cold"
    unavailable = "unavailable"


class FallbackReason(ContractEnum):
    capacity = "capacity"
    quota = "quota"
    manual = "manual"


class TaskStatus(ContractEnum):
    pending = "pending"
    processing = "processing"
    done = "done"
    failed = "failed"


class TaskType(ContractEnum):
    """`GenerationTask.type`: both models run image-to-video; text-only requests get a neutral frame."""

    image_to_video = "image_to_video"
    text_to_video = "text_to_video"


class MemoryEventType(ContractEnum):
    memory_cleanup = "memory_cleanup"
    memory_post_generation = "memory_post_generation"
    fallback_activated = "fallback_activated"
    queue_timeout = "queue_timeout"
    queue_overloaded = "queue_overloaded"


class Priority(ContractEnum):
    """Contract priority, highest first: critical is never degraded or preempted."""

    critical = "critical"
    standard = "standard"
    background = "background"

    @property
    def rank(self) -> int:
        return {"critical": 0, "standard": 1, "background": 2}[self.value]


class DecisionOutcome(ContractEnum):
    accepted = "accepted"
    rejected = "rejected"


class RejectionCode(ContractEnum):
    """Problem `code` of a rejected admission decision; each maps to one HTTP status."""

    malformed_request = "malformed_request"
    validation_error = "validation_error"
    priority_not_authorised = "priority_not_authorised"
    queue_overloaded = "queue_overloaded"
    gpu_quota_exhausted = "gpu_quota_exhausted"
    cpu_starvation = "cpu_starvation"
    io_saturation = "io_saturation"
    lane_unavailable = "lane_unavailable"

    @property
    def status(self) -> int:
        if self in (RejectionCode.malformed_request, RejectionCode.validation_error):
            return 422
        if self is RejectionCode.priority_not_authorised:
            return 403
        return 503


class TaskErrorCode(ContractEnum):
    """Machine-readable reason on a `failed` task event."""

    queue_overloaded = "queue_overloaded"
    gpu_oom = "gpu_oom"
    insufficient_memory = "insufficient_memory"
    model_load_failed = "model_load_failed"
    invalid_job = "invalid_job"
    pipeline_error = "pipeline_error"
    admission_rejected = "admission_rejected"


class EncodingProfile(ContractEnum):
    h264_high = "h264_high"
    h264_main = "h264_main"


class LaneEventType(ContractEnum):
    lane_state = "lane_state"
    heartbeat = "heartbeat"
    #: A worker loaded / evicted a model (`served_model`; the reason in `note`).
    model_loaded = "model_loaded"
    model_evicted = "model_evicted"
