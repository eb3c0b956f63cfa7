"""Admission state folded from the logs: lane state, worker signals, each lane's queue, and what
admission remembers of every task it decided within the dedup window. Plain data only.

Bounded by construction: decided tasks are forgotten `dedup_retention_s` after their decision
(log time), workers after the same time without a heartbeat, service-time windows are fixed-size
deques, and a queue holds only accepted items not yet started.
"""

from __future__ import annotations

import heapq
import math
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from schemas.enums import (
    Availability,
    FallbackReason,
    LaneMode,
    RejectionCode,
    RouteLane,
    TaskStatus,
)
from schemas.task_transitions import repeats
from streams.admission.core.answer_rows import AnswerRow, pack_row, row_verdict, unpack_row
from streams.admission.core.config import AdmissionConfig
from streams.admission.core.facts import HeartbeatFacts
from streams.admission.core.lane_queue import LaneQueue
from streams.admission.core.verdict import Verdict

#: Offsets of `tasks.requested` below the highest decided one whose decision never reached the
#: logs (a crash between output batches); the next active decides them. Oldest forgotten first.
MAX_OFFSET_HOLES = 10_000
#: Availability of a lane whose first `lane_state` event does not state one: `ready` may move to
#: any state, so the event is judged exactly as if no availability were known.
INITIAL_AVAILABILITY = Availability.ready
_DEDICATED = LaneMode.dedicated
_SHARED = RouteLane.shared
_PENDING = TaskStatus.pending
_NOT_FOLLOWING: tuple[int | None, int | None] = (None, None)


@dataclass(slots=True, init=False)  # a written __init__ compiles (streams/compiled.py)
class WorkerSignal:
    """The latest heartbeat of one worker, plus how long its CPU has been over the threshold."""

    beat: HeartbeatFacts
    #: Start of the current unbroken run of heartbeats with load1 > cores x factor.
    cpu_over_since: float | None = None

    def __init__(self, beat: HeartbeatFacts, cpu_over_since: float | None = None) -> None:
        self.beat = beat
        self.cpu_over_since = cpu_over_since

    @property
    def worker_id(self) -> str:
        return self.beat.worker_id

    @property
    def availability(self) -> Availability:
        return self.beat.availability

    @property
    def warm(self) -> bool:
        return self.beat.warm

    @property
    def seen_at(self) -> float:
        return self.beat.at

    def io_saturated(self, limit_ms: float) -> bool:
        # No write yet (None) is not saturation: a fresh worker could otherwise never start.
        ms = self.beat.artifact_write_ms
        return ms is not None and ms > limit_ms

    @property
    def quota_met(self) -> bool:
        beat = self.beat
        return beat.quota_exhausted_flag or (
            beat.gpu_session_quota > 0 and beat.gpu_sessions_in_use >= beat.gpu_session_quota)

    def standing(self, config: AdmissionConfig) -> tuple[object, ...]:
        """Everything the withdrawal checks read of this worker but its age: two heartbeats with
        the same standing leave every check's answer as it was."""
        return (self.beat.availability, self.beat.warm, self.io_saturated(config.io_saturation_ms),
                self.quota_met, self.beat.shared_fallback_enabled, self.cpu_over_since)


@dataclass(frozen=True, slots=True)
class WorkerCheck:
    """One live worker as the withdrawal checks found it (part of a decision's trace)."""

    worker_id: str
    #: False when the worker reports `unavailable` (it is then not checked).
    serving: bool
    #: The first check it fails; None when it passes every one.
    problem: RejectionCode | None


@dataclass(frozen=True, slots=True)
class LaneHealth:
    """The withdrawal checks of one lane's live workers, as found at `since`.

    Explicit state: kept in `LaneState.health` because heartbeats arrive far more often than a
    worker's standing changes, and derived only from `LaneState.workers` (never persisted). It
    answers for any `now` with `since <= now < until` (`until`: the first instant a live worker
    may go stale or start to starve) and the shared-queue fullness it was found with; a heartbeat
    that adds a worker to the live ones or changes a worker's `standing` drops it.
    """

    since: float
    until: float
    shared_full: bool
    #: Ids of the workers live at `since`.
    live: frozenset[str]
    #: Live workers not reporting `unavailable`, and those of them passing every check.
    serving: int
    healthy: int
    #: The check failed by the first serving worker (by id) that fails one.
    first_problem: RejectionCode | None
    #: Every healthy worker is cold or not warm.
    cold: bool
    #: Every live worker and what the checks found, by worker id.
    checks: tuple[WorkerCheck, ...] = ()


@dataclass(slots=True)
class LaneState:
    """One route lane as admission sees it: its state (as `lane_state` events set it, through the
    seed's transitions) and the workers' latest heartbeats.

    `known` is False until the first `lane_state` event names the lane: such a lane is
    `dedicated`, no one stated its availability, and only its workers' heartbeats gate admission.
    A first event that leaves a field out starts from `INITIAL_AVAILABILITY` and `warm=False`.
    """

    lane: RouteLane
    known: bool = False
    availability_set: Availability = INITIAL_AVAILABILITY
    warm: bool = False
    #: The routing mode of a model lane; None for `shared`, which has none.
    routing: LaneMode | None = None
    fallback_reason: FallbackReason | None = None
    updated_at: float = 0.0
    workers: dict[str, WorkerSignal] = field(default_factory=dict)
    #: The withdrawal memo (see `LaneHealth`); not part of the state's value.
    health: LaneHealth | None = field(default=None, compare=False, repr=False)
    #: At most the oldest `seen_at` of `workers` (None: unknown): while the retention horizon is
    #: before it, no worker is gone and the heartbeat fold skips its scan.
    oldest_seen: float | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.routing is None and self.lane is not _SHARED:
            self.routing = _DEDICATED

    @property
    def mode(self) -> LaneMode | None:
        return self.routing

    @property
    def availability(self) -> Availability | None:
        """The lane's availability as `lane_state` events set it; None before any."""
        return self.availability_set if self.known else None


@dataclass(slots=True, init=False)  # a written __init__ compiles (streams/compiled.py)
class TaskRecord:
    """What admission keeps of one decided task: its status and its own verdict's answer row
    (what a re-send is answered with; see `answer_rows`).

    A state restored from a snapshot holds each row packed until a re-send or a conflicting
    decision reads it; `row_of` unpacks it then.
    """

    status: TaskStatus
    #: Log time of the decision, epoch seconds (what the dedup window compares).
    decided_ts: float
    row: AnswerRow | None
    preempted: bool = False
    #: The row as a snapshot stores it; kept once made, so the next snapshot reuses it.
    packed: str | None = None

    def __init__(self, status: TaskStatus, decided_ts: float, row: AnswerRow | None,
                 preempted: bool = False, packed: str | None = None) -> None:
        self.status = status
        self.decided_ts = decided_ts
        self.row = row
        self.preempted = preempted
        self.packed = packed

    def row_of(self) -> AnswerRow:
        row = self.row
        if row is None:
            assert self.packed is not None
            row = self.row = unpack_row(self.packed)
        return row

    @property
    def answer(self) -> Verdict:
        """The task's own verdict, as a re-send's answer reads it."""
        return row_verdict(self.row_of())

    def packed_answer(self) -> str:
        if self.packed is None:
            assert self.row is not None
            self.packed = pack_row(self.row)
        return self.packed

    def repeats(self, status: TaskStatus) -> bool:
        """An event with `status` changes nothing: the same status again (a redelivery, or
        admission's own `pending`), or admission's own `pending` read back after it preempted
        the task."""
        return repeats(self.status, status) or (status is _PENDING and self.preempted)


@dataclass(slots=True)
class DecidedOffsets:
    """Which `tasks.requested` offsets of one partition already have a decision in the logs.

    Everything up to `upto` is decided except `holes`: offsets skipped because their decision
    never reached the logs. A takeover decides exactly those again and skips the rest.
    """

    upto: int = -1
    holes: OrderedDict[int, None] = field(default_factory=OrderedDict)

    def add(self, offset: int) -> None:
        if offset == self.upto + 1:  # the next offset, as a live partition decides them
            self.upto = offset
            return
        if offset > self.upto:
            if self.upto >= 0:
                for missing in range(self.upto + 1, min(offset, self.upto + 1 + MAX_OFFSET_HOLES)):
                    self.holes[missing] = None
                while len(self.holes) > MAX_OFFSET_HOLES:
                    self.holes.popitem(last=False)
            self.upto = offset
        else:
            self.holes.pop(offset, None)

    def __contains__(self, offset: int) -> bool:
        return offset <= self.upto and offset not in self.holes


@dataclass(frozen=True, slots=True)
class LaneTransition:
    """A routing-mode change the fold observed (the agent turns it into `fallback_activated`)."""

    lane: RouteLane
    old_mode: LaneMode
    new_mode: LaneMode
    reason: FallbackReason | None
    at: float


@dataclass(slots=True)
class FoldCounters:
    """Records the folds refused; exported as metrics, kept in snapshots."""

    #: Lane-state events refused because they break the seed's lane transitions.
    illegal_lane_transitions: int = 0
    #: Task events refused because they break `TRANSITIONS` for the task's current status.
    illegal_task_transitions: int = 0
    #: Rejections of already-decided task ids that did not carry `decided_earlier` (ignored).
    conflicting_decisions: int = 0


@dataclass(slots=True)
class AdmissionState:
    config: AdmissionConfig = field(default_factory=AdmissionConfig)
    lanes: dict[RouteLane, LaneState] = field(default_factory=dict)
    queues: dict[RouteLane, LaneQueue] = field(default_factory=dict)
    #: Decided tasks within the dedup window, by task id.
    tasks: dict[str, TaskRecord] = field(default_factory=dict)
    #: (decided_at, task_id) of `tasks`, oldest first: what the window evicts next.
    expiry: list[tuple[float, str]] = field(default_factory=list)
    #: Latest decision time seen (log time): the dedup window ends `dedup_retention_s` before it.
    newest_decision_ts: float = 0.0
    #: Latest status (and its log time) of tasks whose events arrived before their decision, in
    #: arrival order (see `max_early_events`); aged out with the dedup window.
    early: OrderedDict[str, tuple[TaskStatus, float]] = field(default_factory=OrderedDict)
    #: The log time of `early`'s first entry when `forget_before` last read it (inf: it was
    #: empty); -inf once a fold may have changed which entry is first. A memo, so the per-decision
    #: window check reads the first entry only when it may have aged out; not part of the value.
    early_head_at: float = field(default=-math.inf, compare=False, repr=False)
    #: Decided `tasks.requested` offsets per partition (redeliveries of these are skipped).
    decided_offsets: dict[int, DecidedOffsets] = field(default_factory=dict)
    #: Next offset to fold per single-partition log topic (keeps the folds idempotent).
    folded_upto: dict[str, int] = field(default_factory=dict)
    counters: FoldCounters = field(default_factory=FoldCounters)
    #: Recent `done` durations per model, whatever lane served it (see `service_seconds`).
    model_service_times: dict[str, deque[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for lane in RouteLane:
            self.lanes.setdefault(lane, LaneState(lane=lane))
            self.queues.setdefault(lane, LaneQueue(service_times=deque(maxlen=self.config.service_window),
                                                   policy=self.config.queue_policy))

    def service_seconds(self, lane: RouteLane, model: str) -> float:
        """Observed service time for `model` on `lane`, falling back when the lane has none yet.

        Order: the lane's recent `done` durations; else the model's on any lane (a lane that just
        entered degraded mode has served nothing, but the model's dedicated lane has); else the
        configured default (0: unknown, which disables the wait check).
        """
        times = self.queues[lane].service_times
        if not times:
            times = self.model_service_times.get(model) or times
        if not times:
            return self.config.default_service_s
        return sum(times) / len(times)

    def lane(self, lane: RouteLane) -> LaneState:
        return self.lanes[lane]

    def queue(self, lane: RouteLane) -> LaneQueue:
        return self.queues[lane]

    def record(self, task_id: str, now: float) -> TaskRecord | None:
        """The decided task `task_id` as seen at `now`: None once outside the dedup window."""
        found = self.tasks.get(task_id)
        if found is None:
            return None
        if now - found.decided_ts > self.config.dedup_retention_s:
            return None
        return found

    def is_decided(self, partition: int, offset: int) -> bool:
        offsets = self.decided_offsets.get(partition)
        return offsets is not None and offset in offsets

    def claim_position(self, topic: str, offset: int | None) -> bool:
        """True if the record at `offset` of single-partition `topic` has not been folded yet."""
        if offset is None:
            return True
        if offset < self.folded_upto.get(topic, 0):
            return False
        self.folded_upto[topic] = offset + 1
        return True

    def drop_from_queues(self, task_id: str) -> None:
        for queue in self.queues.values():
            queue.remove(task_id)

    def forget_before(self, horizon: float) -> None:
        """Evict decided tasks whose decision is older than `horizon`, and early events as old:
        their task's decision is older still, so it will not be remembered.

        An evicted task leaves its queue too: its worker events would no longer find it, so a
        queue entry kept past the window would be counted as waiting for ever.
        """
        while self.expiry and self.expiry[0][0] < horizon:
            at, task_id = heapq.heappop(self.expiry)
            found = self.tasks.get(task_id)
            if found is not None and found.decided_ts == at:
                del self.tasks[task_id]
                if found.status is _PENDING:
                    self.drop_from_queues(task_id)
        early = self.early
        if horizon > self.early_head_at:
            while early and next(iter(early.values()))[1] < horizon:
                early.popitem(last=False)
            self.early_head_at = next(iter(early.values()))[1] if early else math.inf

    def remember(self, task_id: str, record: TaskRecord) -> None:
        self.tasks[task_id] = record
        heapq.heappush(self.expiry, (record.decided_ts, task_id))
        if record.decided_ts > self.newest_decision_ts:
            self.newest_decision_ts = record.decided_ts
            self.forget_before(record.decided_ts - self.config.dedup_retention_s)

    def folded_positions(self) -> tuple[int | None, int | None]:
        """How far into `events.task` and `events.lane` the state has folded (None: not
        following them)."""
        cfg, upto = self.config, self.folded_upto
        if not (cfg.events_task_topic or cfg.events_lane_topic):
            return _NOT_FOLLOWING
        return (upto.get(cfg.events_task_topic, 0) if cfg.events_task_topic else None,
                upto.get(cfg.events_lane_topic, 0) if cfg.events_lane_topic else None)
