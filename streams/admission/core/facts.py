"""What the edge reads out of wire records: the facts the rules and folds need, nothing more.

Facts are made once and never changed. The ones made per request or per event are plain (not
frozen) slotted dataclasses: a frozen one sets each field through `object.__setattr__`, which
would cost more than the rule that reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.enums import (
    Availability,
    DecisionOutcome,
    EncodingProfile,
    FallbackReason,
    LaneMode,
    ModelName,
    Priority,
    RejectionCode,
    RouteLane,
    TaskStatus,
)


@dataclass(slots=True)
class RequestFacts:
    """A request that passed the contract's validation."""

    task_id: str
    model: ModelName
    #: `model.value`, read once at the edge (the rules key service times by it).
    model_name: str
    priority: Priority
    task_type: str
    producer: str | None
    width: int
    height: int
    fps: int
    num_frames: int
    #: Denoising steps (pinned per model; the capacity simulator scales GPU time by them).
    steps: int
    encoding_profile: EncodingProfile
    submitted_at: float
    #: URI scheme of `input_image` ("" for a plain path); None: no input image.
    input_scheme: str | None
    #: Where the request sits in the log (`p<partition>o<offset>`): every id derives from it.
    origin: str
    #: (partition, offset) of the request record; None for a request with no log position.
    position: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One field-level problem (a `FieldError` on the wire)."""

    loc: tuple[str | int, ...]
    msg: str
    type: str


@dataclass(frozen=True, slots=True)
class UnparsedFacts:
    """A record that did not parse or validate: its refusal, and what could be salvaged."""

    code: RejectionCode
    title: str
    detail: str
    errors: tuple[FieldProblem, ...]
    task_id: str | None
    model: ModelName | None
    #: Model and type names for the task event ("unknown" when not salvaged).
    model_name: str
    task_type: str
    origin: str
    position: tuple[int, int] | None = None


@dataclass(slots=True)
class HeartbeatFacts:
    """A worker's heartbeat on `events.lane`."""

    lane: RouteLane
    worker_id: str
    availability: Availability
    warm: bool
    served_model: ModelName | None
    load1: float
    cpu_cores: int
    artifact_write_ms: float | None
    gpu_sessions_in_use: int
    gpu_session_quota: int
    shared_fallback_enabled: bool
    quota_exhausted_flag: bool
    at: float


@dataclass(frozen=True, slots=True)
class LaneStateFacts:
    """A `lane_state` event: a lane's availability, warmth or routing mode changes."""

    lane: RouteLane
    availability: Availability | None
    warm: bool | None
    mode: LaneMode | None
    fallback_reason: FallbackReason | None
    at: float
    #: The event's id, for the log line of a refused transition.
    event_id: str = ""


@dataclass(slots=True)
class TaskFacts:
    """A task status event on `events.task`."""

    task_id: str
    status: TaskStatus
    lane: RouteLane | None
    model: str
    #: The time the job held its worker (pipeline time, else the whole job), for `done`.
    served_s: float | None
    at: float
    event_id: str = ""


#: Outcomes, re-exported for the edge's readers of decisions.
ACCEPTED, REJECTED = DecisionOutcome.accepted, DecisionOutcome.rejected
