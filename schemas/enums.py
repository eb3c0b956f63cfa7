"""Every enum of the seed data model, spelled verbatim, plus the few framegate adds."""

from enum import StrEnum


class ModelName(StrEnum):
    """Heavy video models framegate serves (seed: `VideoGenerationConstraints.model`)."""

    anisora = "anisora"
    phr00t = "phr00t"


class LaneKey(StrEnum):
    """Seed `VideoExecutionLane.lane_key`: one dedicated lane per heavy model."""

    anisora = "anisora"
    phr00t = "phr00t"


class RouteLane(StrEnum):
    """Where admitted work can go: a dedicated lane, or the `shared` fallback lane."""

    anisora = "anisora"
    phr00t = "phr00t"
    shared = "shared"


class LaneMode(StrEnum):
    dedicated = "dedicated"
    degraded_shared = "degraded_shared"


class Availability(StrEnum):
    ready = "ready"
    cold = "cold"
    unavailable = "unavailable"


class FallbackReason(StrEnum):
    capacity = "capacity"
    quota = "quota"
    manual = "manual"


class TaskStatus(StrEnum):
    pending = "pending"
    processing = "processing"
    done = "done"
    failed = "failed"


class TaskType(StrEnum):
    """`GenerationTask.type`: both models run image-to-video; text-only requests get a neutral frame."""

    image_to_video = "image_to_video"
    text_to_video = "text_to_video"


class MemoryEventType(StrEnum):
    memory_cleanup = "memory_cleanup"
    memory_post_generation = "memory_post_generation"
    fallback_activated = "fallback_activated"
    queue_timeout = "queue_timeout"
    queue_overloaded = "queue_overloaded"


class Priority(StrEnum):
    """Contract priority, highest first: critical is never degraded or preempted."""

    critical = "critical"
    standard = "standard"
    background = "background"

    @property
    def rank(self) -> int:
        return {"critical": 0, "standard": 1, "background": 2}[self.value]


class DecisionOutcome(StrEnum):
    accepted = "accepted"
    rejected = "rejected"


class RejectionCode(StrEnum):
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


class TaskErrorCode(StrEnum):
    """Machine-readable reason on a `failed` task event."""

    queue_overloaded = "queue_overloaded"
    gpu_oom = "gpu_oom"
    insufficient_memory = "insufficient_memory"
    model_load_failed = "model_load_failed"
    invalid_job = "invalid_job"
    pipeline_error = "pipeline_error"
    admission_rejected = "admission_rejected"


class EncodingProfile(StrEnum):
    h264_high = "h264_high"
    h264_main = "h264_main"


class LaneEventType(StrEnum):
    lane_state = "lane_state"
    heartbeat = "heartbeat"
    #: A worker loaded / evicted a model (`served_model`; the reason in `note`).
    model_loaded = "model_loaded"
    model_evicted = "model_evicted"
