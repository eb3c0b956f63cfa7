"""`Verdict`: what the core decided about one record, as plain data, with the trace of why.

The edge renders a verdict into the wire records (`AdmissionDecision`, `TaskEvent`,
`MemoryDiagnosticEvent`); the simulator reads it as it is. A task's own verdict is also what the
dedup memory keeps: a re-send is answered by rendering it again as a replay.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from schemas.enums import (
    DecisionOutcome,
    EncodingProfile,
    LaneMode,
    ModelName,
    Priority,
    RejectionCode,
    RouteLane,
)
from streams.admission.core.facts import FieldProblem

if TYPE_CHECKING:
    from streams.admission.core.lane_queue import QueuedItem
    from streams.admission.core.routing import Route
    from streams.admission.core.state import LaneHealth


class Rule(StrEnum):
    """The rule that settled a decision, in the order `decide` applies them."""

    replay = "replay"  # the task id was decided within the dedup window: its own answer again
    decided_earlier = "decided_earlier"  # an invalid re-send of a decided id: this record only
    unparsed = "unparsed"  # the record did not parse or validate
    input = "input"  # `input_image` the lanes cannot read
    authorisation = "authorisation"  # `critical` from a producer not allowed to send it
    withdrawal = "withdrawal"  # the withdrawal policy (worker signals) refused the lane
    queue = "queue"  # the degraded queue policy refused (depth or expected wait)
    accepted = "accepted"  # every rule passed


@dataclass(slots=True, init=False)  # a written __init__ compiles (streams/compiled.py)
class QueueReading:
    """What the queue rules read: the routed lane's depth once expired items stopped counting."""

    depth: int
    expired: int
    service_s: float
    workers: int
    #: Expected wait of the new item, unrounded (items ahead x service time / workers).
    wait_s: float
    max_depth: int
    max_wait_s: float

    def __init__(self, depth: int, expired: int, service_s: float, workers: int, wait_s: float,
                 max_depth: int, max_wait_s: float) -> None:
        self.depth = depth
        self.expired = expired
        self.service_s = service_s
        self.workers = workers
        self.wait_s = wait_s
        self.max_depth = max_depth
        self.max_wait_s = max_wait_s


@dataclass(slots=True, init=False)  # a written __init__ compiles (streams/compiled.py)
class Trace:
    """Which rule decided and the values it read. Built from references the rules already hold
    (the route, the withdrawal memo), so it costs one small object per decision."""

    rule: Rule
    route: Route | None = None
    queue: QueueReading | None = None
    #: The withdrawal checks of the routed lane's workers (None when the rule did not reach them).
    health: LaneHealth | None = None

    def __init__(self, rule: Rule, route: Route | None = None, queue: QueueReading | None = None,
                 health: LaneHealth | None = None) -> None:
        self.rule = rule
        self.route = route
        self.queue = queue
        self.health = health


@dataclass(frozen=True, slots=True)
class Step:
    """One elastic step-down (a `Degradation` on the wire)."""

    parameter: str
    requested: str
    granted: str


@dataclass(frozen=True, slots=True)
class Granted:
    """The request's shape as admitted after step-downs (the edge applies it to the request)."""

    width: int
    height: int
    fps: int
    num_frames: int
    encoding_profile: EncodingProfile


@dataclass(slots=True, init=False)  # a written __init__ compiles (streams/compiled.py)
class Verdict:
    """One decision. `kind` names its event id (`decision`, or `preempted:<task>` for the
    rejection of a queued item pushed out by a higher class)."""

    outcome: DecisionOutcome
    task_id: str | None
    at: float
    origin: str
    kind: str = "decision"
    model: ModelName | None = None
    priority: Priority | None = None
    lane: RouteLane | None = None
    mode: LaneMode | None = None
    queue_depth: int | None = None
    #: Expected wait (the decision states it rounded to the millisecond: `stated_wait`).
    wait_s: float | None = None
    time_to_ready_s: float | None = None
    steps: tuple[Step, ...] = ()
    #: None: the request is admitted as sent.
    granted: Granted | None = None
    code: RejectionCode | None = None
    title: str | None = None
    detail: str | None = None
    retry_after_s: int | None = None
    reason: str | None = None
    errors: tuple[FieldProblem, ...] = ()
    #: The breach of a queue refusal (the `queue_overloaded` memory event's value and unit).
    value: float | None = None
    value_unit: str | None = None
    #: (partition, offset) of the request record this decision answers (a preemption: the
    #: request that pushed the item out).
    position: tuple[int, int] | None = None
    #: How far the state had folded `events.task` / `events.lane` (see `folded_positions`).
    folded: tuple[int | None, int | None] = (None, None)
    #: A re-send of a decided task: `replay_of` is the task's own verdict (None on a replay
    #: read back from the log, where only the flag is known).
    replayed: bool = False
    replay_of: Verdict | None = None
    decided_earlier: bool = False
    #: For the task event: the model and type names, and when the task was created.
    model_name: str = "unknown"
    task_type: str = "unknown"
    created_at: float | None = None
    #: The rejection of the queued item this acceptance pushed out, if any.
    preempted: Verdict | None = None
    #: Queued items of the shared lane past the policy's wait at `at`: no longer counted (the
    #: worker drops them unstarted and reports their `queue_timeout`).
    expired: tuple[QueuedItem, ...] = ()
    trace: Trace | None = None
    #: The event id as read from the log (a decision read back), as text; None: derived from
    #: `origin` and `kind`.
    event_id: str | None = None

    def __init__(self, outcome: DecisionOutcome, task_id: str | None, at: float, origin: str,
                 kind: str = "decision", model: ModelName | None = None,
                 priority: Priority | None = None, lane: RouteLane | None = None,
                 mode: LaneMode | None = None, queue_depth: int | None = None,
                 wait_s: float | None = None, time_to_ready_s: float | None = None,
                 steps: tuple[Step, ...] = (), granted: Granted | None = None,
                 code: RejectionCode | None = None, title: str | None = None,
                 detail: str | None = None, retry_after_s: int | None = None,
                 reason: str | None = None, errors: tuple[FieldProblem, ...] = (),
                 value: float | None = None, value_unit: str | None = None,
                 position: tuple[int, int] | None = None,
                 folded: tuple[int | None, int | None] = (None, None), replayed: bool = False,
                 replay_of: Verdict | None = None, decided_earlier: bool = False,
                 model_name: str = "unknown", task_type: str = "unknown",
                 created_at: float | None = None, preempted: Verdict | None = None,
                 expired: tuple[QueuedItem, ...] = (), trace: Trace | None = None,
                 event_id: str | None = None) -> None:
        self.outcome = outcome
        self.task_id = task_id
        self.at = at
        self.origin = origin
        self.kind = kind
        self.model = model
        self.priority = priority
        self.lane = lane
        self.mode = mode
        self.queue_depth = queue_depth
        self.wait_s = wait_s
        self.time_to_ready_s = time_to_ready_s
        self.steps = steps
        self.granted = granted
        self.code = code
        self.title = title
        self.detail = detail
        self.retry_after_s = retry_after_s
        self.reason = reason
        self.errors = errors
        self.value = value
        self.value_unit = value_unit
        self.position = position
        self.folded = folded
        self.replayed = replayed
        self.replay_of = replay_of
        self.decided_earlier = decided_earlier
        self.model_name = model_name
        self.task_type = task_type
        self.created_at = created_at
        self.preempted = preempted
        self.expired = expired
        self.trace = trace
        self.event_id = event_id

    @property
    def fresh(self) -> bool:
        """The task's own decision (not a re-send's answer)."""
        return not (self.replayed or self.decided_earlier)

    @property
    def writes_task_event(self) -> bool:
        return self.task_id is not None and self.fresh

    @property
    def stated_wait(self) -> float | None:
        """The expected wait as the decision states it: rounded to the millisecond."""
        return round(self.wait_s, 3) if self.wait_s is not None else None

    def answer_key(self) -> tuple[object, ...]:
        """The fields a re-send's answer is made of: two verdicts with the same key give the
        same answer (the request, source and read positions are not part of it)."""
        return (self.at, self.outcome, self.task_id, self.model,
                self.priority, self.lane, self.mode, self.queue_depth, self.stated_wait, self.time_to_ready_s,
                self.steps, self.code, self.title, self.detail, self.retry_after_s, self.reason,
                self.errors, self.decided_earlier)
