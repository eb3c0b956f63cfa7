"""`decide(state, request, now) -> Decision`: the pure admission core.

Reads the state, never changes its value (the caller folds the outcome back with `apply`; the one
write is the lanes' withdrawal memo, `LaneHealth`, which never changes an answer), never reads
the clock (`now` is the request record's log time) and derives every event id from the request's
log position, so replaying the same log yields the same decisions (all but the recorded read
positions `events_task_upto` / `events_lane_upto`, which say how far the follower had got).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import urlsplit

from schemas import (
    AdmissionDecision,
    DecisionOutcome,
    FieldError,
    GenerationRequest,
    LaneMode,
    MemoryDiagnosticEvent,
    MemoryEventType,
    RejectionCode,
    SourceRecord,
    TaskEvent,
    TaskStatus,
)
from schemas.decisions import Degradation
from streams.admission.elastic import step_down
from streams.admission.events import event_id, origin_of, rejection_task_event, task_event
from streams.admission.lane_queue import QueueAdmit, QueuedItem, expected_wait
from streams.admission.priority import authorised, may_degrade
from streams.admission.refusal import Refusal
from streams.admission.routing import Route, route
from streams.admission.state import (
    AdmissionState,
    TaskRecord,
    fold_decision,
)
from streams.admission.withdrawal import Capacity, check_withdrawal


@dataclass(frozen=True)
class Decision:
    decision: AdmissionDecision
    #: The rejection of a background item pushed out of a full queue, if any.
    preempted: AdmissionDecision | None = None
    task_events: tuple[TaskEvent, ...] = ()
    memory_events: tuple[MemoryDiagnosticEvent, ...] = ()
    #: Queued items past the policy's wait at `now`: no longer counted towards depth (the worker
    #: drops them unstarted and reports their `queue_timeout`).
    expired: tuple[QueuedItem, ...] = ()

    @property
    def decisions(self) -> tuple[AdmissionDecision, ...]:
        return (self.decision,) if self.preempted is None else (self.preempted, self.decision)


def replay(previous: TaskRecord, now: datetime, origin: str, source: SourceRecord | None) -> Decision:
    """The task's own decision again, as a new record pointing at the original."""
    data = json.loads(previous.answer)
    data.update(
        event_id=str(event_id(origin, "decision")),
        occurred_at=now.isoformat(),
        replayed=True,
        replay_of=data["event_id"],
        source=source.model_dump(mode="json") if source is not None else None,
    )
    return Decision(decision=AdmissionDecision.model_validate(data))


def stray_rejection(rejected: AdmissionDecision) -> Decision:
    """A rejection of a record whose task id was already decided: that record's answer only."""
    return Decision(decision=rejected.model_copy(update={"decided_earlier": True}))


def decide_unparsed(state: AdmissionState, rejected: AdmissionDecision, failed: TaskEvent | None,
                    now: datetime) -> Decision:
    """A record that did not parse: its rejection, or a stray one if its id was decided before."""
    if rejected.task_id is not None and state.record(rejected.task_id, now) is not None:
        return stray_rejection(rejected)
    return Decision(decision=rejected, task_events=(failed,) if failed is not None else ())


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
    folded: tuple[int | None, int | None] = (None, None),
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
        errors=list(refusal.errors),
        source=source,
        events_task_upto=folded[0],
        events_lane_upto=folded[1],
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


def _preemption(victim: QueuedItem, state: AdmissionState, rt: Route, now: datetime, origin: str,
                by: GenerationRequest, source: SourceRecord | None,
                ) -> tuple[AdmissionDecision, TaskEvent | None, MemoryDiagnosticEvent]:
    depth = state.queue(rt.lane).depth
    folded = folded_positions(state)
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
        # The request whose decision pushed it out: orders the preemption in the logs.
        source=source,
        events_task_upto=folded[0],
        events_lane_upto=folded[1],
    )
    model = victim.model.value if victim.model else "unknown"
    failed = rejection_task_event(decision, None, model, victim.task_type, now,
                                  origin + f"|pre:{victim.task_id}", created_at=victim.submitted_at)
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


def folded_positions(state: AdmissionState) -> tuple[int | None, int | None]:
    """How far into `events.task` and `events.lane` `state` had folded (None: not following them)."""
    cfg, upto = state.config, state.folded_upto
    return (upto.get(cfg.events_task_topic, 0) if cfg.events_task_topic else None,
            upto.get(cfg.events_lane_topic, 0) if cfg.events_lane_topic else None)


def unreadable_input(request: GenerationRequest, schemes: frozenset[str]) -> Refusal | None:
    """An `input_image` the lane workers could not open is refused here, before any GPU."""
    if request.input_image is None:
        return None
    scheme = urlsplit(request.input_image).scheme.lower()
    if len(scheme) == 1:
        scheme = ""  # a Windows drive letter, not a scheme
    if scheme in schemes:
        return None
    supported = ", ".join(sorted(f"{s}://" if s else "plain paths" for s in schemes))
    msg = f"input_image scheme {scheme + '://' if scheme else '(none)'} is not readable by the lanes; supported: {supported}"
    return Refusal(
        RejectionCode.validation_error, "Validation error", f"input_image: {msg}",
        errors=(FieldError(loc=["input_image"], msg=msg, type="unsupported_scheme"),),
    )


def decide(
    state: AdmissionState, request: GenerationRequest, now: datetime, source: SourceRecord | None = None
) -> Decision:
    """Decide one request.

    1. A task id decided within the dedup window gets its own decision again (`replayed`).
    2. Expired items of the routed lane's degraded queue stop counting (see `Decision.expired`).
    3. The rules, in order: readable input, authorised priority, withdrawal, queue policy.
    """
    origin = origin_of(source, request.task_id, now)
    previous = state.record(request.task_id, now)
    unreadable = unreadable_input(request, state.config.input_image_schemes)
    if previous is not None:
        if unreadable is not None:
            rejected = _reject(request, unreadable, now, origin, source, None, None, None, 0)
            return stray_rejection(rejected.decision)
        return replay(previous, now, origin, source)
    rt = route(state, request.model)
    expired = state.queue(rt.lane).expired(now) if rt.mode is LaneMode.degraded_shared else ()
    view = copy_without(state, expired) if expired else state
    outcome = _decide(view, request, now, source, origin, rt, unreadable)
    return replace(outcome, expired=expired) if expired else outcome


def copy_without(state: AdmissionState, items: tuple[QueuedItem, ...]) -> AdmissionState:
    """A shallow copy of `state` whose queues lack `items` (decide never mutates its input)."""
    drop = {item.task_id for item in items}
    return replace(state, queues={lane: q.without(drop) for lane, q in state.queues.items()})


def _decide(
    state: AdmissionState, request: GenerationRequest, now: datetime, source: SourceRecord | None,
    origin: str, rt: Route, unreadable: Refusal | None,
) -> Decision:
    cfg = state.config
    queue = state.queue(rt.lane)
    folded = folded_positions(state)

    def reject(refusal: Refusal, depth: int | None = None, wait: float | None = None) -> Decision:
        # Every fresh decision names its route: folding it repeats the expiry sweep of `decide`.
        return _reject(request, refusal, now, origin, source, rt, depth, wait, cfg.retry_after_s, folded)

    if unreadable is not None:
        return reject(unreadable)
    if not authorised(request, cfg):
        return reject(Refusal(
            RejectionCode.priority_not_authorised,
            "Priority not authorised",
            f"producer {request.producer!r} may not submit critical work",
        ))
    capacity = check_withdrawal(state, rt, now, request.priority)
    if isinstance(capacity, Refusal):
        return reject(capacity, queue.depth)
    assert isinstance(capacity, Capacity)
    service_s = state.service_seconds(rt.lane, request.model.value)
    victim = None
    if rt.mode is LaneMode.degraded_shared:
        verdict = queue.admit(request.priority, service_s, capacity.workers)
        if isinstance(verdict, Refusal):
            return reject(verdict, queue.depth, expected_wait(queue.depth, service_s, capacity.workers))
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
        events_task_upto=folded[0],
        events_lane_upto=folded[1],
    )
    pending = task_event(request.task_id, request.model.value, request.type.value, request.submitted_at,
                         now, TaskStatus.pending, origin, lane=rt.lane)
    if victim is None:
        return Decision(decision=decision, task_events=(pending,))
    pre, failed, memory = _preemption(victim, state, rt, now, origin, request, source)
    events = (pending, failed) if failed else (pending,)
    return Decision(decision=decision, preempted=pre, task_events=events, memory_events=(memory,))


def apply(state: AdmissionState, outcome: Decision) -> None:
    """Fold a decision (its expiries and preemption too) back into the state.

    The fold repeats the expiry sweep from the decision itself, so a state rebuilt from the logs
    drops the same items.
    """
    for decision in outcome.decisions:
        fold_decision(state, decision)
