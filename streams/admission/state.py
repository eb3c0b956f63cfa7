"""Admission state folded from the logs: lane state, worker signals, and each lane's queue.

Every fold is idempotent and keyed by log position (`events.*` and the decision topics have one
partition each), so a start-up rebuild followed by the Faust agents re-reading the same records
cannot fold anything twice. The folds mutate the state they are given and nothing else.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from schemas import (
    AdmissionDecision,
    Availability,
    DecisionOutcome,
    FallbackReason,
    HostPressure,
    LaneEvent,
    LaneEventType,
    LaneMode,
    ModelName,
    Priority,
    RouteLane,
    TaskEvent,
    TaskStatus,
)
from schemas.lane import AVAILABILITY_TRANSITIONS


@dataclass(frozen=True)
class AdmissionConfig:
    """The knobs of the pure core (built from `Settings`, see `config_from_settings`)."""

    heartbeat_stale_s: float = 15.0
    critical_producers: frozenset[str] = frozenset()
    cold_start_s: float = 20.0
    #: Service time assumed before any `done` event was observed; 0 = unknown, no wait check.
    default_service_s: float = 0.0
    service_window: int = 20
    cpu_starvation_factor: float = 1.5
    cpu_starvation_s: float = 30.0
    io_saturation_ms: float = 1500.0
    retry_after_s: int = 30


@dataclass
class WorkerSignal:
    """The latest heartbeat of one worker, plus how long its CPU has been over the threshold."""

    worker_id: str
    availability: Availability
    warm: bool
    served_model: ModelName | None
    host: HostPressure
    seen_at: datetime
    #: Start of the current unbroken run of heartbeats with load1 > cores x factor.
    cpu_over_since: datetime | None = None
    quota_exhausted_flag: bool = False


@dataclass
class LaneState:
    lane: RouteLane
    mode: LaneMode = LaneMode.dedicated
    fallback_reason: FallbackReason | None = None
    #: Set by `lane_state` events (operators, workers); None until one arrives.
    availability: Availability | None = None
    warm: bool | None = None
    updated_at: datetime | None = None
    workers: dict[str, WorkerSignal] = field(default_factory=dict)

    def live_workers(self, now: datetime, stale_s: float) -> list[WorkerSignal]:
        """Workers whose last heartbeat is at most `stale_s` old at `now` (sorted for determinism)."""
        horizon = now - timedelta(seconds=stale_s)
        return [w for _, w in sorted(self.workers.items()) if w.seen_at >= horizon]


@dataclass(frozen=True)
class QueuedItem:
    task_id: str
    priority: Priority
    enqueued_at: datetime
    model: ModelName | None


@dataclass
class LaneQueue:
    """Accepted items of one lane not yet started/finished/expired, in acceptance order."""

    items: dict[str, QueuedItem] = field(default_factory=dict)
    service_times: deque[float] = field(default_factory=lambda: deque(maxlen=20))

    @property
    def depth(self) -> int:
        return len(self.items)


@dataclass(frozen=True)
class LaneTransition:
    """A routing-mode change the fold observed (the agent turns it into `fallback_activated`)."""

    lane: RouteLane
    old_mode: LaneMode
    new_mode: LaneMode
    reason: FallbackReason | None
    at: datetime


@dataclass
class AdmissionState:
    config: AdmissionConfig = field(default_factory=AdmissionConfig)
    lanes: dict[RouteLane, LaneState] = field(default_factory=dict)
    queues: dict[RouteLane, LaneQueue] = field(default_factory=dict)
    #: Last decision per task id: a re-sent id gets it again.
    decided: dict[str, AdmissionDecision] = field(default_factory=dict)
    #: Task ids a worker started, finished or expired: never (re-)enter a queue.
    finished: set[str] = field(default_factory=set)
    #: Highest `tasks.requested` offset decided, per partition (redeliveries below it are skipped).
    decided_upto: dict[int, int] = field(default_factory=dict)
    #: Highest offset folded per single-partition log topic (keeps the folds idempotent).
    folded_upto: dict[str, int] = field(default_factory=dict)
    #: Lane-state events refused because they break the seed's transitions.
    illegal_transitions: int = 0
    #: Recent `done` durations per model, whatever lane served it (see `service_seconds`).
    model_service_times: dict[str, deque[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for lane in RouteLane:
            self.lanes.setdefault(lane, LaneState(lane=lane))
            self.queues.setdefault(lane, LaneQueue(service_times=deque(maxlen=self.config.service_window)))

    def service_seconds(self, lane: RouteLane, model: str) -> float:
        """Observed service time for `model` on `lane`, falling back when the lane has none yet.

        Order: the lane's recent `done` durations; else the model's on any lane (a lane that just
        entered degraded mode has served nothing, but the model's dedicated lane has); else the
        configured default (0: unknown, which disables the wait check).
        """
        times = self.queue(lane).service_times
        if not times:
            times = self.model_service_times.get(model) or times
        if not times:
            return self.config.default_service_s
        return sum(times) / len(times)

    def lane(self, lane: RouteLane) -> LaneState:
        return self.lanes[lane]

    def queue(self, lane: RouteLane) -> LaneQueue:
        return self.queues[lane]

    def claim_position(self, topic: str, offset: int | None) -> bool:
        """True if the record at `offset` of single-partition `topic` has not been folded yet."""
        if offset is None:
            return True
        if offset <= self.folded_upto.get(topic, -1):
            return False
        self.folded_upto[topic] = offset
        return True


def fold_lane_event(state: AdmissionState, event: LaneEvent) -> LaneTransition | None:
    """Apply one `events.lane` record; returns the routing-mode transition it caused, if any."""
    lane = state.lane(event.lane_key)
    if event.event_type is LaneEventType.heartbeat:
        assert event.worker_id is not None and event.host is not None and event.availability is not None
        previous = lane.workers.get(event.worker_id)
        if previous is not None and previous.seen_at > event.occurred_at:
            return None  # an older heartbeat arriving late says nothing new
        over = event.host.load1 > event.host.cpu_cores * state.config.cpu_starvation_factor
        over_since = None
        if over:
            over_since = previous.cpu_over_since if previous and previous.cpu_over_since else event.occurred_at
        lane.workers[event.worker_id] = WorkerSignal(
            worker_id=event.worker_id,
            availability=event.availability,
            warm=bool(event.warm),
            served_model=event.served_model,
            host=event.host,
            seen_at=event.occurred_at,
            cpu_over_since=over_since,
            quota_exhausted_flag=bool(event.gpu_sessions_quota_exhausted),
        )
        return None

    transition = None
    if event.availability is not None:
        current = lane.availability
        if current is not None and event.availability not in AVAILABILITY_TRANSITIONS[current]:
            state.illegal_transitions += 1
            return None
        lane.availability = event.availability
    if event.warm is not None:
        lane.warm = event.warm
    if event.mode is not None:
        if event.mode is not lane.mode:
            transition = LaneTransition(
                lane=event.lane_key,
                old_mode=lane.mode,
                new_mode=event.mode,
                reason=event.fallback_reason,
                at=event.occurred_at,
            )
        lane.mode = event.mode
        lane.fallback_reason = event.fallback_reason
    lane.updated_at = event.occurred_at
    return transition


def fold_task_event(state: AdmissionState, event: TaskEvent) -> None:
    """A worker starting, finishing or expiring a task removes it from its lane's queue."""
    status = event.task.status
    if status is TaskStatus.pending:
        return  # admission's own record of an acceptance; the decision already enqueued it
    state.finished.add(event.task_id)
    for queue in state.queues.values():
        queue.items.pop(event.task_id, None)
    if status is TaskStatus.done and event.lane is not None and event.duration_seconds is not None:
        state.queue(event.lane).service_times.append(event.duration_seconds)
        model = event.task.model
        if model not in state.model_service_times:
            state.model_service_times[model] = deque(maxlen=state.config.service_window)
        state.model_service_times[model].append(event.duration_seconds)


def fold_decision(state: AdmissionState, decision: AdmissionDecision) -> None:
    """Apply one admission decision (ours, just made, or read back from the log at start-up).

    Order-free across `tasks.accepted` and `tasks.rejected`: a preemption read before the
    acceptance it cancels still wins, so the start-up rebuild needs no merge of the two topics.
    """
    src = decision.source
    if src is not None and src.offset > state.decided_upto.get(src.partition, -1):
        state.decided_upto[src.partition] = src.offset
    if decision.task_id is None or decision.replayed:
        return
    task_id = decision.task_id
    previous = state.decided.get(task_id)
    if decision.outcome is DecisionOutcome.accepted:
        if previous is not None and previous.reason == "preempted":
            return
        state.decided[task_id] = decision
        if task_id in state.finished or decision.lane is None:
            return
        state.queue(decision.lane).items[task_id] = QueuedItem(
            task_id=task_id,
            priority=decision.priority or Priority.standard,
            enqueued_at=decision.occurred_at,
            model=decision.model,
        )
        return
    state.decided[task_id] = decision
    if decision.reason == "preempted":
        state.finished.add(task_id)
        for queue in state.queues.values():
            queue.items.pop(task_id, None)
