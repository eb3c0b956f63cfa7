"""`decide(state, request, now) -> Decision`: the pure admission core.

Reads the state, never mutates it (the caller folds the outcome back with `apply`), never reads
the clock (`now` is the request record's log time) and derives every event id from the request's
log position, so replaying the same log yields byte-identical decisions.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime

from schemas import (
    DEGRADED_QUEUE_POLICY,
    AdmissionDecision,
    DecisionOutcome,
    GenerationRequest,
    GenerationTask,
    LaneMode,
    MemoryDiagnosticEvent,
    MemoryEventType,
    RejectionCode,
    RouteLane,
    SourceRecord,
    TaskErrorCode,
    TaskEvent,
    TaskStatus,
)
from schemas.decisions import Degradation
from schemas.event_ids import derived_event_id, queue_timeout_event_id
from streams.admission.elastic import step_down
from streams.admission.priority import authorised, may_degrade
from streams.admission.queue_policy import QueueAdmit, check_queue, expected_wait
from streams.admission.refusal import Refusal
from streams.admission.routing import Route, route
from streams.admission.state import AdmissionState, LaneQueue, QueuedItem, fold_decision
from streams.admission.withdrawal import Capacity, check_withdrawal

def event_id(origin: str, kind: str) -> uuid.UUID:
    """Deterministic ids: the same log position always yields the same event ids."""
    return derived_event_id(origin, kind)


def origin_of(source: SourceRecord | None, task_id: str | None, now: datetime) -> str:
    # Topic names are left out on purpose: a replay into a fresh prefix gives the same ids.
    if source is not None:
        return f"p{source.partition}o{source.offset}"
    return f"t{task_id}@{now.isoformat()}"


@dataclass(frozen=True)
class Decision:
    decision: AdmissionDecision
    #: The rejection of a background item pushed out of a full queue, if any.
    preempted: AdmissionDecision | None = None
    task_events: tuple[TaskEvent, ...] = ()
    memory_events: tuple[MemoryDiagnosticEvent, ...] = field(default_factory=tuple)
    #: Queued items past the policy's wait: the worker will drop them unstarted, so they no
    #: longer count towards depth (each gets one `queue_timeout`, id derived from its task).
    expired: tuple[QueuedItem, ...] = ()

    @property
    def decisions(self) -> tuple[AdmissionDecision, ...]:
        return (self.decision,) if self.preempted is None else (self.decision, self.preempted)


def task_event(
    task_id: str,
    model: str,
    type_: str,
    created_at: datetime,
    now: datetime,
    status: TaskStatus,
    origin: str,
    lane: RouteLane | None = None,
    error_msg: str | None = None,
    error_code: TaskErrorCode | None = None,
) -> TaskEvent:
    task = GenerationTask(
        id=task_id,
        model=model,
        type=type_,
        status=status,
        error_msg=error_msg[:2000] if error_msg else None,
        created_at=min(created_at, now),
        updated_at=now,
    )
    return TaskEvent(
        event_id=event_id(origin, f"task:{task_id}:{status.value}"),
        occurred_at=now,
        task=task,
        lane=lane,
        error_code=error_code,
    )


def rejection_task_event(decision: AdmissionDecision, request: GenerationRequest | None,
                         model: str, type_: str, now: datetime, origin: str) -> TaskEvent | None:
    if decision.task_id is None:
        return None
    created = request.submitted_at if request is not None else now
    return task_event(
        decision.task_id, model, type_, created, now, TaskStatus.failed, origin,
        lane=decision.lane, error_msg=f"{decision.code}: {decision.detail or decision.title}",
        error_code=TaskErrorCode.admission_rejected,
    )


def _reject(
    request: GenerationRequest,
    refusal: Refusal,
    now: datetime,
    origin: str,
    source: SourceRecord | None,
    rt: Route | None,
    depth: int | None,
    wait: float | None,
    retry_after: int,
) -> Decision:
    decision = AdmissionDecision(
        event_id=event_id(origin, "decision"),
        occurred_at=now,
        outcome=DecisionOutcome.rejected,
        task_id=request.task_id,
        model=request.model,
        priority=request.priority,
        lane=rt.lane if rt else None,
        lane_mode=rt.mode if rt else None,
        queue_depth=depth,
        estimated_wait_seconds=round(wait, 3) if wait is not None else None,
        status=refusal.code.status,
        code=refusal.code,
        title=refusal.title,
        detail=refusal.detail,
        retry_after_seconds=retry_after if refusal.code.status == 503 else None,
        reason=refusal.reason,
        source=source,
    )
    memory: tuple[MemoryDiagnosticEvent, ...] = ()
    if refusal.code is RejectionCode.queue_overloaded and refusal.value is not None and rt is not None:
        memory = (MemoryDiagnosticEvent(
            event_id=event_id(origin, "memory:queue_overloaded"),
            occurred_at=now,
            event_type=MemoryEventType.queue_overloaded,
            task_id=request.task_id,
            model=request.model,
            lane_mode=rt.mode,
            lane=rt.lane,
            value=refusal.value,
            value_unit=refusal.value_unit,
        ),)
    failed = rejection_task_event(decision, request, request.model.value, request.type.value, now, origin)
    return Decision(decision=decision, task_events=(failed,) if failed else (), memory_events=memory)


def replay(previous: AdmissionDecision, now: datetime, origin: str, source: SourceRecord | None) -> Decision:
    again = previous.model_copy(update={
        "event_id": event_id(origin, "decision"),
        "occurred_at": now,
        "replayed": True,
        "source": source,
    })
    return Decision(decision=again)


def _preemption(victim: QueuedItem, state: AdmissionState, rt: Route, now: datetime, origin: str,
                by: GenerationRequest) -> tuple[AdmissionDecision, TaskEvent | None, MemoryDiagnosticEvent]:
    depth = state.queue(rt.lane).depth
    original = state.decided.get(victim.task_id)
    decision = AdmissionDecision(
        event_id=event_id(origin, f"preempted:{victim.task_id}"),
        occurred_at=now,
        outcome=DecisionOutcome.rejected,
        task_id=victim.task_id,
        model=victim.model,
        priority=victim.priority,
        lane=rt.lane,
        lane_mode=rt.mode,
        queue_depth=depth,
        status=503,
        code=RejectionCode.queue_overloaded,
        title="Queue overloaded",
        detail=f"preempted from the full {rt.lane.value} queue by {by.priority.value} task {by.task_id}",
        retry_after_seconds=state.config.retry_after_s,
        reason="preempted",
    )
    request = original.request if original is not None else None
    model = victim.model.value if victim.model else "unknown"
    type_ = request.type.value if request is not None else "unknown"
    failed = rejection_task_event(decision, request, model, type_, now, origin + f"|pre:{victim.task_id}")
    memory = MemoryDiagnosticEvent(
        event_id=event_id(origin, f"memory:preempted:{victim.task_id}"),
        occurred_at=now,
        event_type=MemoryEventType.queue_overloaded,
        task_id=victim.task_id,
        model=victim.model,
        lane_mode=rt.mode,
        lane=rt.lane,
        value=float(depth),
        value_unit="queue_depth",
    )
    return decision, failed, memory


def expired_items(state: AdmissionState, rt: Route, now: datetime) -> tuple[QueuedItem, ...]:
    if rt.mode is not LaneMode.degraded_shared:
        return ()
    limit = DEGRADED_QUEUE_POLICY.max_wait_seconds
    return tuple(item for item in state.queue(rt.lane).items.values()
                 if (now - item.enqueued_at).total_seconds() > limit)


def timeout_event(item: QueuedItem, rt: Route, now: datetime) -> MemoryDiagnosticEvent:
    return MemoryDiagnosticEvent(
        event_id=queue_timeout_event_id(item.task_id),
        occurred_at=now,
        event_type=MemoryEventType.queue_timeout,
        task_id=item.task_id,
        model=item.model,
        lane_mode=rt.mode,
        lane=rt.lane,
        value=round((now - item.enqueued_at).total_seconds(), 3),
        value_unit="wait_seconds",
    )


def decide(
    state: AdmissionState, request: GenerationRequest, now: datetime, source: SourceRecord | None = None
) -> Decision:
    """Decide one request; expired items of the routed lane are swept first (see `Decision`)."""
    rt = route(state, request.model)
    expired = expired_items(state, rt, now)
    if not expired:
        return _decide(state, request, now, source)
    trimmed = copy_without(state, expired)
    outcome = _decide(trimmed, request, now, source)
    timeouts = tuple(timeout_event(item, rt, now) for item in expired)
    return replace(outcome, expired=expired, memory_events=timeouts + outcome.memory_events)


def copy_without(state: AdmissionState, items: tuple[QueuedItem, ...]) -> AdmissionState:
    """A shallow copy of `state` whose queues lack `items` (decide never mutates its input)."""
    drop = {item.task_id for item in items}
    queues = {
        lane: LaneQueue(
            items={k: v for k, v in queue.items.items() if k not in drop},
            service_times=queue.service_times,
        )
        for lane, queue in state.queues.items()
    }
    return replace(state, queues=queues)


def _decide(
    state: AdmissionState, request: GenerationRequest, now: datetime, source: SourceRecord | None
) -> Decision:
    cfg = state.config
    origin = origin_of(source, request.task_id, now)
    previous = state.decided.get(request.task_id)
    if previous is not None:
        return replay(previous, now, origin, source)

    def reject(refusal: Refusal, rt: Route | None = None, depth: int | None = None,
               wait: float | None = None) -> Decision:
        return _reject(request, refusal, now, origin, source, rt, depth, wait, cfg.retry_after_s)

    if not authorised(request, cfg):
        return reject(Refusal(
            RejectionCode.priority_not_authorised,
            "Priority not authorised",
            f"producer {request.producer!r} may not submit critical work",
        ))
    rt = route(state, request.model)
    queue = state.queue(rt.lane)
    capacity = check_withdrawal(state, rt, now)
    if isinstance(capacity, Refusal):
        return reject(capacity, rt, queue.depth)
    assert isinstance(capacity, Capacity)
    service_s = state.service_seconds(rt.lane, request.model.value)
    victim = None
    if rt.mode is LaneMode.degraded_shared:
        verdict = check_queue(queue, request.priority, service_s, capacity.workers, DEGRADED_QUEUE_POLICY)
        if isinstance(verdict, Refusal):
            return reject(verdict, rt, queue.depth,
                          expected_wait(queue.depth, service_s, capacity.workers))
        assert isinstance(verdict, QueueAdmit)
        victim, ahead, wait = verdict.victim, verdict.depth_ahead, verdict.wait_s
    else:
        ahead, wait = queue.depth, expected_wait(queue.depth, service_s, capacity.workers)

    granted, degradations = request, list[Degradation]()
    if rt.mode is LaneMode.degraded_shared and may_degrade(request.priority):
        granted, degradations = step_down(request)
    if capacity.time_to_ready_s > 0 and may_degrade(request.priority):
        degradations.append(Degradation(
            parameter="time_to_ready", requested="0s", granted=f"{capacity.time_to_ready_s:g}s"))

    decision = AdmissionDecision(
        event_id=event_id(origin, "decision"),
        occurred_at=now,
        outcome=DecisionOutcome.accepted,
        task_id=request.task_id,
        model=request.model,
        priority=request.priority,
        lane=rt.lane,
        lane_mode=rt.mode,
        queue_depth=ahead + 1,
        estimated_wait_seconds=round(wait, 3),
        time_to_ready_seconds=capacity.time_to_ready_s,
        degradations=degradations,
        request=granted,
        source=source,
    )
    pending = task_event(request.task_id, request.model.value, request.type.value, request.submitted_at,
                         now, TaskStatus.pending, origin, lane=rt.lane)
    if victim is None:
        return Decision(decision=decision, task_events=(pending,))
    pre, failed, memory = _preemption(victim, state, rt, now, origin, request)
    events = (pending, failed) if failed else (pending,)
    return Decision(decision=decision, preempted=pre, task_events=events, memory_events=(memory,))


def apply(state: AdmissionState, outcome: Decision) -> None:
    """Fold a decision (its expiries and preemption too) back into the state."""
    for item in outcome.expired:
        state.finished.add(item.task_id)
        for queue in state.queues.values():
            queue.items.pop(item.task_id, None)
    if outcome.preempted is not None:
        fold_decision(state, outcome.preempted)
    fold_decision(state, outcome.decision)


