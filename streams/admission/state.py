"""Admission state folded from the logs: lane state, worker signals, each lane's queue, and what
admission remembers of every task it decided within the dedup window.

The folds mutate the state they are given and nothing else, and every one of them is idempotent
(a record folded twice changes nothing the second time), so the start-up catch-up, the live
follower and the agent's own `apply` may all see the same record.

Bounded by construction: decided tasks are forgotten `dedup_retention_s` after their decision
(log time), workers after the same time without a heartbeat, service-time windows are fixed-size
deques, and a queue holds only accepted items not yet started.
"""

from __future__ import annotations

import heapq
import logging
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas import (
    DEGRADED_QUEUE_POLICY,
    WITHDRAWAL_POLICY,
    AdmissionDecision,
    Availability,
    DecisionOutcome,
    DegradedQueuePolicy,
    FallbackReason,
    HostPressure,
    LaneEvent,
    LaneEventType,
    LaneKey,
    LaneMode,
    ModelName,
    Priority,
    RejectionCode,
    RouteLane,
    TaskEvent,
    TaskStatus,
)
from schemas.errors import IllegalLaneTransition
from schemas.lane import SharedLane, VideoExecutionLane
from schemas.settings import Settings
from schemas.tasks import TRANSITIONS
from streams.admission.lane_queue import LaneQueue, QueuedItem

log = logging.getLogger(__name__)

#: Task events seen before their task's decision (only possible while catching up two logs at
#: once) are remembered up to this many, oldest forgotten first.
MAX_EARLY_EVENTS = 100_000
#: Offsets of `tasks.requested` below the highest decided one whose decision never reached the
#: logs (a crash between output batches); the next active decides them. Oldest forgotten first.
MAX_OFFSET_HOLES = 10_000
#: Availability of a lane whose first `lane_state` event does not state one: `ready` may move to
#: any state, so the event is judged exactly as if no availability were known.
INITIAL_AVAILABILITY = Availability.ready


def _setting(name: str) -> Any:
    """The default of a `Settings` field: the one definition the core's defaults repeat."""
    return Settings.model_fields[name].default


@dataclass(frozen=True)
class AdmissionConfig:
    """The knobs of the pure core (built from `Settings`, see `config_from_settings`)."""

    heartbeat_stale_s: float = _setting("admission_heartbeat_stale_s")
    critical_producers: frozenset[str] = frozenset()
    cold_start_s: float = _setting("admission_cold_start_s")
    #: Service time assumed before any `done` event was observed; 0 = unknown, no wait check.
    default_service_s: float = _setting("admission_default_service_s")
    service_window: int = _setting("admission_service_window")
    cpu_starvation_factor: float = WITHDRAWAL_POLICY.cpu_load_per_core
    cpu_starvation_s: float = WITHDRAWAL_POLICY.cpu_starvation_seconds
    io_saturation_ms: float = WITHDRAWAL_POLICY.io_saturation_ms
    retry_after_s: int = _setting("admission_retry_after_s")
    #: How long a decided task id is remembered (log time): a re-send within it gets the same
    #: answer, a re-send after it is decided afresh.
    dedup_retention_s: float = _setting("admission_dedup_retention_h") * 3600.0
    #: URI schemes of `input_image` the lane workers can read; anything else is refused (422).
    input_image_schemes: frozenset[str] = frozenset({"file", ""})
    #: The seed's fixed degraded queue policy. Not a setting: only the capacity simulator's
    #: explicit what-if runs pass another one, and label themselves outside the contract.
    queue_policy: DegradedQueuePolicy = DEGRADED_QUEUE_POLICY
    #: The worker logs each decision records its folded position in (`folded_upto` keys); empty:
    #: not recorded (a state that follows no logs, as in tests).
    events_task_topic: str = ""
    events_lane_topic: str = ""
    #: Task events kept while their decision has not been read (oldest dropped past this).
    max_early_events: int = MAX_EARLY_EVENTS


def config_from_settings(settings: Settings) -> AdmissionConfig:
    return AdmissionConfig(
        heartbeat_stale_s=settings.admission_heartbeat_stale_s,
        critical_producers=frozenset(settings.admission_critical_producers),
        cold_start_s=settings.admission_cold_start_s,
        default_service_s=settings.admission_default_service_s,
        service_window=settings.admission_service_window,
        retry_after_s=settings.admission_retry_after_s,
        dedup_retention_s=settings.admission_dedup_retention_h * 3600.0,
        input_image_schemes=frozenset(settings.admission_input_image_schemes) | {""},
        events_task_topic=settings.topics.events_task,
        events_lane_topic=settings.topics.events_lane,
    )


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

    def io_saturated(self, limit_ms: float) -> bool:
        # No write yet (None) is not saturation: a fresh worker could otherwise never start.
        ms = self.host.artifact_write_ms
        return ms is not None and ms > limit_ms

    @property
    def quota_met(self) -> bool:
        host = self.host
        return self.quota_exhausted_flag or (host.gpu_session_quota > 0 and host.gpu_sessions_in_use >= host.gpu_session_quota)

    def standing(self, config: AdmissionConfig) -> tuple[object, ...]:
        """Everything the withdrawal checks read of this worker but its age: two heartbeats with
        the same standing leave every check's answer as it was."""
        return (self.availability, self.warm, self.io_saturated(config.io_saturation_ms), self.quota_met,
                self.host.shared_fallback_enabled, self.cpu_over_since)


@dataclass(frozen=True, slots=True)
class LaneHealth:
    """The withdrawal checks of one lane's live workers, as found at `since` (a memo).

    Derived from `LaneState.workers` and never persisted. It answers for any `now` with
    `since <= now < until` (`until`: the first instant a live worker may go stale or start to
    starve) and the shared-queue fullness it was found with; a heartbeat that adds a worker to the
    live ones or changes a worker's `standing` drops it (`fold_lane_event`).
    """

    since: datetime
    until: datetime
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


@dataclass
class LaneState:
    """One route lane as admission sees it: the seed entity and the workers' latest heartbeats.

    `seed` is the lane's `VideoExecutionLane` (a `SharedLane` for `shared`, which has no routing
    mode), changed only through its own transition methods. It is None until the first
    `lane_state` event names the lane: such a lane is `dedicated`, no one stated its
    availability, and only its workers' heartbeats gate admission. A first event that leaves a
    field out starts it from `INITIAL_AVAILABILITY` (the one state every transition leaves, so
    the event is judged as if nothing was known) and `warm=False`.
    """

    lane: RouteLane
    seed: VideoExecutionLane | SharedLane | None = None
    workers: dict[str, WorkerSignal] = field(default_factory=dict)
    #: Memo of the withdrawal checks (see `LaneHealth`); not part of the state's value.
    health: LaneHealth | None = field(default=None, compare=False, repr=False)
    #: At most the oldest `seen_at` of `workers` (None: unknown): while the retention horizon is
    #: before it, no worker is gone and the heartbeat fold skips its scan.
    oldest_seen: datetime | None = field(default=None, compare=False, repr=False)

    @property
    def mode(self) -> LaneMode | None:
        """The routing mode of a model lane; None for `shared`, where degraded lanes route to."""
        if isinstance(self.seed, VideoExecutionLane):
            return self.seed.mode
        return None if self.lane is RouteLane.shared else LaneMode.dedicated

    @property
    def availability(self) -> Availability | None:
        """The lane's availability as `lane_state` events set it; None before any."""
        return self.seed.availability if self.seed is not None else None

    def live_workers(self, now: datetime, stale_s: float) -> list[WorkerSignal]:
        """Workers whose last heartbeat is at most `stale_s` old at `now` (sorted for determinism)."""
        horizon = now - timedelta(seconds=stale_s)
        return [w for _, w in sorted(self.workers.items()) if w.seen_at >= horizon]


@dataclass(slots=True)
class TaskRecord:
    """What admission keeps of one decided task: its status and the answer a re-send gets.

    `answer` is the decision's wire JSON without `request` and `source` (a replay refers to the
    original decision by `replay_of`; the admitted request itself is on `tasks.accepted`).
    """

    status: TaskStatus
    #: Log time of the decision, epoch seconds (what the dedup window compares).
    decided_ts: float
    answer: bytes
    preempted: bool = False

    def repeats(self, status: TaskStatus) -> bool:
        """An event with `status` changes nothing: the same status again (a redelivery, or
        admission's own `pending`), or admission's own `pending` read back after it preempted
        the task."""
        return status is self.status or (status is TaskStatus.pending and self.preempted)


@dataclass
class DecidedOffsets:
    """Which `tasks.requested` offsets of one partition already have a decision in the logs.

    Everything up to `upto` is decided except `holes`: offsets skipped because their decision
    never reached the logs. A takeover decides exactly those again and skips the rest.
    """

    upto: int = -1
    holes: OrderedDict[int, None] = field(default_factory=OrderedDict)

    def add(self, offset: int) -> None:
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


@dataclass(frozen=True)
class LaneTransition:
    """A routing-mode change the fold observed (the agent turns it into `fallback_activated`)."""

    lane: RouteLane
    old_mode: LaneMode
    new_mode: LaneMode
    reason: FallbackReason | None
    at: datetime


@dataclass
class FoldCounters:
    """Records the folds refused; exported as metrics, kept in snapshots."""

    #: Lane-state events refused because they break the seed's lane transitions.
    illegal_lane_transitions: int = 0
    #: Task events refused because they break `TRANSITIONS` for the task's current status.
    illegal_task_transitions: int = 0
    #: Rejections of already-decided task ids that did not carry `decided_earlier` (ignored).
    conflicting_decisions: int = 0


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class AdmissionState:
    config: AdmissionConfig = field(default_factory=AdmissionConfig)
    lanes: dict[RouteLane, LaneState] = field(default_factory=dict)
    queues: dict[RouteLane, LaneQueue] = field(default_factory=dict)
    #: Decided tasks within the dedup window, by task id.
    tasks: dict[str, TaskRecord] = field(default_factory=dict)
    #: (decided_at, task_id) of `tasks`, oldest first: what the window evicts next.
    expiry: list[tuple[float, str]] = field(default_factory=list)
    #: Latest decision time seen (log time, epoch seconds): the dedup window ends
    #: `dedup_retention_s` before it.
    newest_decision_ts: float = 0.0
    #: Latest status (and its log time, epoch seconds) of tasks whose events arrived before
    #: their decision, in arrival order (see MAX_EARLY_EVENTS); aged out with the dedup window.
    early: OrderedDict[str, tuple[TaskStatus, float]] = field(default_factory=OrderedDict)
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

    def record(self, task_id: str, now: datetime) -> TaskRecord | None:
        """The decided task `task_id` as seen at `now`: None once outside the dedup window."""
        found = self.tasks.get(task_id)
        if found is None:
            return None
        if now.timestamp() - found.decided_ts > self.config.dedup_retention_s:
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
        """Evict decided tasks whose decision is older than `horizon` (epoch seconds), and early
        events as old: their task's decision is older still, so it will not be remembered.

        An evicted task leaves its queue too: its worker events would no longer find it, so a
        queue entry kept past the window would be counted as waiting for ever.
        """
        while self.expiry and self.expiry[0][0] < horizon:
            at, task_id = heapq.heappop(self.expiry)
            found = self.tasks.get(task_id)
            if found is not None and found.decided_ts == at:
                del self.tasks[task_id]
                if found.status is TaskStatus.pending:
                    self.drop_from_queues(task_id)
        while self.early and next(iter(self.early.values()))[1] < horizon:
            self.early.popitem(last=False)

    def remember(self, task_id: str, record: TaskRecord) -> None:
        self.tasks[task_id] = record
        heapq.heappush(self.expiry, (record.decided_ts, task_id))
        if record.decided_ts > self.newest_decision_ts:
            self.newest_decision_ts = record.decided_ts
            self.forget_before(record.decided_ts - self.config.dedup_retention_s)


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
        signal = lane.workers[event.worker_id] = WorkerSignal(
            worker_id=event.worker_id,
            availability=event.availability,
            warm=bool(event.warm),
            served_model=event.served_model,
            host=event.host,
            seen_at=event.occurred_at,
            cpu_over_since=over_since,
            quota_exhausted_flag=bool(event.gpu_sessions_quota_exhausted),
        )
        if lane.oldest_seen is not None and signal.seen_at < lane.oldest_seen:
            lane.oldest_seen = signal.seen_at
        health = lane.health
        if health is not None and (previous is None or signal.worker_id not in health.live
                                   or previous.standing(state.config) != signal.standing(state.config)):
            lane.health = None
        _forget_gone_workers(lane, event.occurred_at, state.config.dedup_retention_s)
        return None

    old_mode = lane.mode
    try:
        lane.seed = changed_lane(lane.seed, event)
    except IllegalLaneTransition as exc:
        state.counters.illegal_lane_transitions += 1
        log.warning("ignoring lane event %s for %s: %s", event.event_id, event.lane_key.value, exc)
        return None
    new_mode = lane.mode
    if old_mode is None or new_mode is None or new_mode is old_mode:
        return None
    return LaneTransition(lane=event.lane_key, old_mode=old_mode, new_mode=new_mode,
                          reason=event.fallback_reason, at=event.occurred_at)


def changed_lane(seed: VideoExecutionLane | SharedLane | None,
                 event: LaneEvent) -> VideoExecutionLane | SharedLane:
    """The lane after one `lane_state` event, through the seed model's transitions.

    All or nothing: `IllegalLaneTransition` when any part of the event is refused.
    """
    at = event.occurred_at
    if seed is None:
        if event.lane_key is RouteLane.shared:
            seed = SharedLane(warm=False, availability=INITIAL_AVAILABILITY, updated_at=at)
        else:
            seed = VideoExecutionLane(lane_key=LaneKey(event.lane_key.value), mode=LaneMode.dedicated,
                                      warm=False, availability=INITIAL_AVAILABILITY, updated_at=at)
    if event.availability is not None:
        seed = seed.with_availability(event.availability, at)
    if event.warm is not None:
        seed = seed.with_warm(event.warm, at)
    if event.mode is not None:
        if not isinstance(seed, VideoExecutionLane):
            raise IllegalLaneTransition("the shared lane has no routing mode")
        seed = seed.with_mode(event.mode, event.fallback_reason, at)
    return seed


def _forget_gone_workers(lane: LaneState, now: datetime, retention_s: float) -> None:
    horizon = now - timedelta(seconds=retention_s)
    if lane.oldest_seen is not None and lane.oldest_seen >= horizon:
        return
    gone = [wid for wid, w in lane.workers.items() if w.seen_at < horizon]
    for wid in gone:
        del lane.workers[wid]
        if lane.health is not None and wid in lane.health.live:
            lane.health = None
    lane.oldest_seen = min((w.seen_at for w in lane.workers.values()), default=None)


def fold_task_event(state: AdmissionState, event: TaskEvent) -> bool:
    """Apply one `events.task` record; False (and counted) when it breaks `TRANSITIONS`.

    A started, finished or expired task leaves its lane's queue; a `done` feeds the service
    times. An event the task record `repeats` changes nothing.
    """
    task_id = event.task_id
    status = event.task.status
    found = state.tasks.get(task_id)
    if found is None:
        # Read before its task's decision (catching up two logs at once), or about a task
        # decided before the dedup window: remembered for the decision, nothing to check.
        at = event.occurred_at.timestamp()
        if at < state.newest_decision_ts - state.config.dedup_retention_s:
            return True  # its decision is older still: outside the window, never remembered
        state.early[task_id] = (status, at)
        state.early.move_to_end(task_id)
        while len(state.early) > state.config.max_early_events:
            state.early.popitem(last=False)
    elif found.repeats(status):
        return True
    elif status not in TRANSITIONS[found.status]:
        state.counters.illegal_task_transitions += 1
        log.warning("ignoring task event %s for %s: %s -> %s is not a legal transition",
                    event.event_id, task_id, found.status.value, status.value)
        return False
    else:
        found.status = status
        if status is not TaskStatus.pending:
            state.drop_from_queues(task_id)
    # A lane runs the next pipeline while the last mp4 is encoded and keeps models resident, so
    # the time a job holds its worker is its pipeline time (older events carry only the total).
    served = event.pipeline_seconds if event.pipeline_seconds is not None else event.duration_seconds
    if status is TaskStatus.done and event.lane is not None and served is not None:
        state.queue(event.lane).service_times.append(served)
        model = event.task.model
        if model not in state.model_service_times:
            state.model_service_times[model] = deque(maxlen=state.config.service_window)
        state.model_service_times[model].append(served)
    return True


#: Never part of a remembered answer: the admitted request, the source record, the read positions
#: (they describe the state one decision was made on, not the answer) and two constant fields.
_ANSWER_DROPS = frozenset({"request", "source", "events_task_upto", "events_lane_upto", "event_type",
                           "schema_version"})


def compact_answer(decision: AdmissionDecision) -> bytes:
    """The decision as a re-send's answer needs it: no admitted request, no source record.

    Fields at their defaults are left out (validation puts them back): most fields of a decision
    are None, the lists empty, the flags false. Spelled out rather than `exclude_defaults`, which
    calls the `event_id` and `occurred_at` default factories on every call to compare with them.
    """
    drops = set(_ANSWER_DROPS)
    if not decision.degradations:
        drops.add("degradations")
    if not decision.errors:
        drops.add("errors")
    if not decision.replayed:
        drops.add("replayed")
    if not decision.decided_earlier:
        drops.add("decided_earlier")
    return decision.model_dump_json(exclude=drops, exclude_none=True).encode()


def sweep_expired(state: AdmissionState, lane: RouteLane, now: datetime) -> tuple[QueuedItem, ...]:
    """Drop the items of a degraded lane's queue that waited past the policy at `now`.

    The worker drops them unstarted when it reaches them (and reports the `queue_timeout`);
    admission only stops counting them towards depth.
    """
    expired = state.queue(lane).expired(now)
    for item in expired:
        state.drop_from_queues(item.task_id)
    return expired


def fold_decision(state: AdmissionState, decision: AdmissionDecision) -> None:
    """Apply one admission decision (ours, just made, or read back from the logs).

    Idempotent: a decision already folded (same `event_id`) changes nothing. A rejection of a
    task that already has a decision is either a preemption (it wins over the acceptance) or
    changes nothing: a re-send's answer never rewrites the task's own decision.
    """
    src = decision.source
    if src is not None:
        state.decided_offsets.setdefault(src.partition, DecidedOffsets()).add(src.offset)
    if decision.task_id is None or decision.replayed or decision.decided_earlier:
        return
    if decision.lane is not None and decision.lane_mode is LaneMode.degraded_shared:
        sweep_expired(state, decision.lane, decision.occurred_at)
    task_id = decision.task_id
    previous = state.record(task_id, decision.occurred_at)
    if decision.reason == "preempted":
        if previous is not None and previous.preempted:
            return
        state.drop_from_queues(task_id)
        state.remember(task_id, TaskRecord(
            status=TaskStatus.failed,
            decided_ts=previous.decided_ts if previous else decision.occurred_at.timestamp(),
            answer=compact_answer(decision),
            preempted=True,
        ))
        return
    if previous is not None:
        if not previous.preempted and previous.answer != compact_answer(decision):
            state.counters.conflicting_decisions += 1
        return
    accepted = decision.outcome is DecisionOutcome.accepted
    status = TaskStatus.pending if accepted else TaskStatus.failed
    record = TaskRecord(status=status, decided_ts=decision.occurred_at.timestamp(),
                        answer=compact_answer(decision))
    early, _ = state.early.pop(task_id, (None, 0.0))
    if accepted and early is not None and early is not TaskStatus.pending:
        record.status = early  # the worker's events were read first; they are later in fact
    state.remember(task_id, record)
    if accepted and record.status is TaskStatus.pending and decision.lane is not None:
        request = decision.request
        state.queue(decision.lane).add(QueuedItem(
            task_id=task_id,
            priority=decision.priority or Priority.standard,
            enqueued_at=decision.occurred_at,
            model=decision.model,
            task_type=request.type.value if request is not None else "unknown",
            submitted_at=request.submitted_at if request is not None else None,
        ))
