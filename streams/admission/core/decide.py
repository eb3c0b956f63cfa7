"""`decide(state, facts, at) -> Verdict` and `apply(state, verdict)`: the admission rules.

`decide` reads the state and never changes its value (the one write is the lanes' withdrawal
memo, which never changes an answer); `at` is the request record's log time, never the clock.
`apply` folds the verdict back, exactly as `fold_decision` folds the same decision read back
from the logs, so the active admission and a standby following it hold the same state.
"""

from __future__ import annotations

from dataclasses import replace

from schemas.enums import DecisionOutcome, LaneMode, RejectionCode, RouteLane
from streams.admission.core.elastic import step_down
from streams.admission.core.facts import FieldProblem, RequestFacts, UnparsedFacts
from streams.admission.core.folds import fold_verdict
from streams.admission.core.lane_queue import LaneQueue, QueuedItem, expected_wait
from streams.admission.core.priority import authorised, may_degrade
from streams.admission.core.refusal import Refusal
from streams.admission.core.routing import DEDICATED, DEGRADED, Route
from streams.admission.core.state import AdmissionState
from streams.admission.core.verdict import Granted, QueueReading, Rule, Step, Trace, Verdict
from streams.admission.core.withdrawal import check_withdrawal

_ACCEPTED, _REJECTED = DecisionOutcome.accepted, DecisionOutcome.rejected
_DEGRADED_MODE = LaneMode.degraded_shared
_SHARED = RouteLane.shared
_VALIDATION_ERROR = RejectionCode.validation_error
_DECIDED_EARLIER = Rule.decided_earlier
_REPLAY = Rule.replay
_UNPARSED = Rule.unparsed
_INPUT = Rule.input
_PRIORITY_NOT_AUTHORISED = RejectionCode.priority_not_authorised
_AUTHORISATION = Rule.authorisation
_WITHDRAWAL = Rule.withdrawal
_RULE_ACCEPTED = Rule.accepted
_QUEUE = Rule.queue
_QUEUE_OVERLOADED = RejectionCode.queue_overloaded


def route(state: AdmissionState, facts: RequestFacts) -> Route:
    home = DEDICATED[facts.model]
    if state.lanes[home.lane].routing is _DEGRADED_MODE:
        return DEGRADED[facts.model]
    return home


def unreadable_input(facts: RequestFacts, schemes: frozenset[str]) -> Refusal | None:
    """An `input_image` the lane workers could not open is refused here, before any GPU."""
    scheme = facts.input_scheme
    if scheme is None or scheme in schemes:
        return None
    supported = ", ".join(sorted(f"{s}://" if s else "plain paths" for s in schemes))
    msg = f"input_image scheme {scheme + '://' if scheme else '(none)'} is not readable by the lanes; supported: {supported}"
    return Refusal(
        _VALIDATION_ERROR, "Validation error", f"input_image: {msg}",
        errors=(FieldProblem(loc=("input_image",), msg=msg, type="unsupported_scheme"),),
    )


def decide(state: AdmissionState, facts: RequestFacts, at: float) -> Verdict:
    """Decide one request.

    1. A task id decided within the dedup window gets its own decision again (a replay).
    2. Expired items of the shared lane's degraded queue stop counting, for every rule that
       reads a depth (see `Verdict.expired`).
    3. The rules, in order: readable input, authorised priority, withdrawal, queue policy.
    """
    task_id = facts.task_id
    previous = state.record(task_id, at)
    unreadable = unreadable_input(facts, state.config.input_image_schemes)
    if previous is not None:
        if unreadable is not None:
            stray = _rejection(facts, unreadable, at, None, None, None, 0, (None, None),
                               Trace(_DECIDED_EARLIER))
            stray.decided_earlier = True
            return stray
        answer = previous.answer
        return Verdict(outcome=answer.outcome, task_id=task_id, at=at, origin=facts.origin,
                       position=facts.position, replayed=True, replay_of=answer,
                       trace=Trace(_REPLAY))
    rt = route(state, facts)
    shared = state.queues[_SHARED]
    expired = shared.expired(at)
    if not expired:
        return _decide(state, facts, at, rt, unreadable, 0)
    drop = {item.task_id for item in expired}
    view = replace(state, queues={**state.queues, _SHARED: shared.without(drop)})
    verdict = _decide(view, facts, at, rt, unreadable, len(expired))
    verdict.expired = expired
    return verdict


def decide_unparsed(state: AdmissionState, facts: UnparsedFacts, at: float) -> Verdict:
    """A record that did not parse: its rejection, or a stray one if its id was decided before."""
    verdict = Verdict(
        outcome=_REJECTED, task_id=facts.task_id, at=at, origin=facts.origin, model=facts.model,
        code=facts.code, title=facts.title, detail=facts.detail, errors=facts.errors,
        position=facts.position, model_name=facts.model_name, task_type=facts.task_type,
        trace=Trace(_UNPARSED),
    )
    if facts.task_id is not None and state.record(facts.task_id, at) is not None:
        verdict.decided_earlier = True
        verdict.trace = Trace(_DECIDED_EARLIER)
    return verdict


def _rejection(facts: RequestFacts, refusal: Refusal, at: float, rt: Route | None, depth: int | None,
               wait: float | None, retry_after: int, folded: tuple[int | None, int | None],
               trace: Trace) -> Verdict:
    status = refusal.code.status
    return Verdict(
        outcome=_REJECTED, task_id=facts.task_id, at=at, origin=facts.origin,
        model=facts.model, priority=facts.priority,
        lane=rt.lane if rt else None, mode=rt.mode if rt else None,
        queue_depth=depth, wait_s=wait,
        code=refusal.code, title=refusal.title, detail=refusal.detail,
        retry_after_s=retry_after if status == 503 else None,
        reason=refusal.reason, errors=refusal.errors,
        value=refusal.value, value_unit=refusal.value_unit,
        position=facts.position, folded=folded,
        model_name=facts.model_name, task_type=facts.task_type, created_at=facts.submitted_at,
        trace=trace,
    )


def _decide(state: AdmissionState, facts: RequestFacts, at: float, rt: Route, unreadable: Refusal | None,
            expired: int) -> Verdict:
    cfg = state.config
    queue = state.queues[rt.lane]
    folded = state.folded_positions()
    if unreadable is not None:
        return _rejection(facts, unreadable, at, rt, None, None, cfg.retry_after_s, folded,
                          Trace(_INPUT, rt))
    priority = facts.priority
    if not authorised(priority, facts.producer, cfg.critical_producers):
        return _rejection(facts, Refusal(
            _PRIORITY_NOT_AUTHORISED,
            "Priority not authorised",
            f"producer {facts.producer!r} may not submit critical work",
        ), at, rt, None, None, cfg.retry_after_s, folded, Trace(_AUTHORISATION, rt))
    capacity, health = check_withdrawal(state, rt, at, priority)
    if isinstance(capacity, Refusal):
        return _rejection(facts, capacity, at, rt, len(queue.items), None, cfg.retry_after_s, folded,
                          Trace(_WITHDRAWAL, rt, None, health))
    service_s = state.service_seconds(rt.lane, facts.model_name)
    workers = capacity.workers
    victim = None
    degraded = rt.mode is _DEGRADED_MODE
    if degraded:
        admitted = queue.admit(priority, service_s, workers)
        if isinstance(admitted, Refusal):
            wait = expected_wait(len(queue.items), service_s, workers)
            reading = _reading(queue, expired, service_s, workers, wait)
            return _rejection(facts, admitted, at, rt, len(queue.items), wait, cfg.retry_after_s, folded,
                              Trace(_QUEUE, rt, reading, health))
        victim, ahead, wait = admitted.victim, admitted.depth_ahead, admitted.wait_s
    else:
        ahead = len(queue.items)
        wait = expected_wait(ahead, service_s, workers)

    granted: Granted | None = None
    steps: tuple[Step, ...] = ()
    ready_s = capacity.time_to_ready_s
    if may_degrade(priority):
        if degraded:
            granted, steps = step_down(facts)
        if ready_s > 0:
            steps += (Step("time_to_ready", "0s", f"{ready_s:g}s"),)

    policy = queue.policy
    reading = QueueReading(len(queue.items), expired, service_s, workers, wait, policy.max_depth,
                           policy.max_wait_s)
    verdict = Verdict(
        outcome=_ACCEPTED, task_id=facts.task_id, at=at, origin=facts.origin,
        model=facts.model, priority=priority, lane=rt.lane, mode=rt.mode,
        queue_depth=ahead + 1, wait_s=wait, time_to_ready_s=ready_s,
        steps=steps, granted=granted, position=facts.position, folded=folded,
        model_name=facts.model_name, task_type=facts.task_type, created_at=facts.submitted_at,
        trace=Trace(_RULE_ACCEPTED, rt, reading, health),
    )
    if victim is not None:
        verdict.preempted = _preemption(victim, queue, rt, facts, at, folded, cfg.retry_after_s)
    return verdict


def _reading(queue: LaneQueue, expired: int, service_s: float, workers: int, wait: float) -> QueueReading:
    policy = queue.policy
    return QueueReading(len(queue.items), expired, service_s, workers, wait, policy.max_depth,
                        policy.max_wait_s)


def _preemption(victim: QueuedItem, queue: LaneQueue, rt: Route, by: RequestFacts, at: float,
                folded: tuple[int | None, int | None], retry_after: int) -> Verdict:
    depth = len(queue.items)
    return Verdict(
        outcome=_REJECTED, task_id=victim.task_id, at=at, origin=by.origin,
        kind=f"preempted:{victim.task_id}",
        model=victim.model, priority=victim.priority, lane=rt.lane, mode=rt.mode,
        queue_depth=depth, code=_QUEUE_OVERLOADED, title="Queue overloaded",
        detail=f"preempted from the full {rt.lane.value} queue by {by.priority.value} task {by.task_id}",
        retry_after_s=retry_after, reason="preempted",
        value=float(depth), value_unit="queue_depth",
        # The request whose decision pushed it out: orders the preemption in the logs.
        position=by.position, folded=folded,
        model_name=victim.model.value if victim.model else "unknown", task_type=victim.task_type,
        created_at=victim.submitted_at,
        trace=Trace(_QUEUE, rt),
    )


def apply(state: AdmissionState, verdict: Verdict) -> None:
    """Fold a verdict (its expiries and preemption too) back into the state."""
    if verdict.preempted is not None:
        fold_verdict(state, verdict.preempted)
    fold_verdict(state, verdict)

