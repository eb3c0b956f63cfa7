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


@dataclass(slots=True, init=False)  # a written __init__ compiles (streams/compiled.py)
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

    def __init__(self, task_id: str, model: ModelName, model_name: str, priority: Priority,
                 task_type: str, producer: str | None, width: int, height: int, fps: int,
                 num_frames: int, steps: int, encoding_profile: EncodingProfile,
                 submitted_at: float, input_scheme: str | None, origin: str,
                 position: tuple[int, int] | None = None) -> None:
        self.task_id = task_id
        self.model = model
        self.model_name = model_name
        self.priority = priority
        self.task_type = task_type
        self.producer = producer
        self.width = width
        self.height = height
        self.fps = fps
        self.num_frames = num_frames
        self.steps = steps
        self.encoding_profile = encoding_profile
        self.submitted_at = submitted_at
        self.input_scheme = input_scheme
        self.origin = origin
        self.position = position


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


@dataclass(slots=True, init=False)  # a written __init__ compiles (streams/compiled.py)
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

    def __init__(self, lane: RouteLane, worker_id: str, availability: Availability, warm: bool,
                 served_model: ModelName | None, load1: float, cpu_cores: int,
                 artifact_write_ms: float | None, gpu_sessions_in_use: int, gpu_session_quota: int,
                 shared_fallback_enabled: bool, quota_exhausted_flag: bool, at: float) -> None:
        self.lane = lane
        self.worker_id = worker_id
        self.availability = availability
        self.warm = warm
        self.served_model = served_model
        self.load1 = load1
        self.cpu_cores = cpu_cores
        self.artifact_write_ms = artifact_write_ms
        self.gpu_sessions_in_use = gpu_sessions_in_use
        self.gpu_session_quota = gpu_session_quota
        self.shared_fallback_enabled = shared_fallback_enabled
        self.quota_exhausted_flag = quota_exhausted_flag
        self.at = at


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


@dataclass(slots=True, init=False)  # a written __init__ compiles (streams/compiled.py)
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

    def __init__(self, task_id: str, status: TaskStatus, lane: RouteLane | None, model: str,
                 served_s: float | None, at: float, event_id: str = "") -> None:
        self.task_id = task_id
        self.status = status
        self.lane = lane
        self.model = model
        self.served_s = served_s
        self.at = at
        self.event_id = event_id


#: Outcomes, re-exported for the edge's readers of decisions.
ACCEPTED, REJECTED = DecisionOutcome.accepted, DecisionOutcome.rejected
