"""The edge's second job: a verdict -> the wire records admission writes.

`render` makes the `AdmissionDecision` (and a preemption's), the `TaskEvent`s and the
`MemoryDiagnosticEvent`s of one verdict. Every event id derives from the verdict's origin (the
request's log position) and kind, so the same log renders the same records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from schemas import (
    AdmissionDecision,
    DecisionOutcome,
    Degradation,
    FieldError,
    GenerationRequest,
    MemoryDiagnosticEvent,
    MemoryEventType,
    RejectionCode,
    SourceRecord,
    TaskErrorCode,
    TaskEvent,
    TaskStatus,
)
from streams.admission.core.answer_rows import event_id_text
from streams.admission.core.lane_queue import QueuedItem
from streams.admission.core.verdict import Granted, Verdict
from streams.admission.events import event_id, task_event


@dataclass(frozen=True)
class Decision:
    """One verdict as wire records, with the verdict itself (what `apply` folds)."""

    decision: AdmissionDecision
    verdict: Verdict
    #: The rejection of a background item pushed out of a full queue, if any.
    preempted: AdmissionDecision | None = None
    task_events: tuple[TaskEvent, ...] = ()
    memory_events: tuple[MemoryDiagnosticEvent, ...] = ()

    @property
    def decisions(self) -> tuple[AdmissionDecision, ...]:
        return (self.decision,) if self.preempted is None else (self.preempted, self.decision)

    @property
    def expired(self) -> tuple[QueuedItem, ...]:
        return self.verdict.expired


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def granted_request(request: GenerationRequest, granted: Granted | None) -> GenerationRequest:
    if granted is None:
        return request
    changes = {"width": granted.width, "height": granted.height, "fps": granted.fps,
               "num_frames": granted.num_frames, "encoding_profile": granted.encoding_profile}
    # Re-validated: a step-down must still satisfy the request contract.
    return GenerationRequest.model_validate({**request.model_dump(), **changes})


def _errors(v: Verdict) -> list[FieldError]:
    return [FieldError(loc=list(e.loc), msg=e.msg, type=e.type) for e in v.errors]


def _degradations(v: Verdict) -> list[Degradation]:
    return [Degradation(parameter=s.parameter, requested=s.requested, granted=s.granted)
            for s in v.steps]


def decision_record(v: Verdict, now: datetime, request: GenerationRequest | None,
                    source: SourceRecord | None) -> AdmissionDecision:
    """The `AdmissionDecision` of `v` at `now` (the verdict's own time as a `datetime`)."""
    if v.replayed:
        original = v.replay_of
        assert original is not None
        return AdmissionDecision(
            event_id=event_id(v.origin, "decision"), occurred_at=now, outcome=original.outcome,
            task_id=original.task_id, model=original.model, priority=original.priority,
            lane=original.lane, lane_mode=original.mode, queue_depth=original.queue_depth,
            estimated_wait_seconds=original.stated_wait, time_to_ready_seconds=original.time_to_ready_s,
            degradations=_degradations(original),
            status=original.code.status if original.code is not None else None, code=original.code,
            title=original.title, detail=original.detail,
            retry_after_seconds=original.retry_after_s, reason=original.reason,
            errors=_errors(original), source=source, replayed=True,
            replay_of=event_id_text(original),
        )
    accepted = v.outcome is DecisionOutcome.accepted
    return AdmissionDecision(
        event_id=event_id(v.origin, v.kind), occurred_at=now, outcome=v.outcome, task_id=v.task_id,
        model=v.model, priority=v.priority, lane=v.lane, lane_mode=v.mode, queue_depth=v.queue_depth,
        estimated_wait_seconds=v.stated_wait, time_to_ready_seconds=v.time_to_ready_s,
        degradations=_degradations(v),
        request=granted_request(request, v.granted) if accepted and request is not None else None,
        status=v.code.status if v.code is not None else None, code=v.code, title=v.title,
        detail=v.detail, retry_after_seconds=v.retry_after_s, reason=v.reason,
        errors=_errors(v), source=source, decided_earlier=v.decided_earlier,
        events_task_upto=v.folded[0], events_lane_upto=v.folded[1],
    )


def _failed_event(v: Verdict, now: datetime, created: datetime, origin: str) -> TaskEvent:
    assert v.task_id is not None
    return task_event(
        v.task_id, v.model_name, v.task_type, created, now, TaskStatus.failed, origin, lane=v.lane,
        error_msg=f"{v.code}: {v.detail or v.title}", error_code=TaskErrorCode.admission_rejected,
    )


def _memory(v: Verdict, now: datetime, kind: str, task_id: str | None) -> MemoryDiagnosticEvent:
    return MemoryDiagnosticEvent(
        event_id=event_id(v.origin, kind), occurred_at=now, event_type=MemoryEventType.queue_overloaded,
        task_id=task_id, model=v.model, lane_mode=v.mode, lane=v.lane, value=v.value,
        value_unit=v.value_unit,
    )


def render(v: Verdict, now: datetime, request: GenerationRequest | None = None,
           source: SourceRecord | None = None) -> Decision:
    """Every record of verdict `v`; `now` is its time as the record's `datetime`."""
    decision = decision_record(v, now, request, source)
    if not v.writes_task_event:
        return Decision(decision=decision, verdict=v)
    created = request.submitted_at if request is not None else now
    if v.outcome is DecisionOutcome.accepted:
        assert v.task_id is not None and v.lane is not None
        pending = task_event(v.task_id, v.model_name, v.task_type, created, now, TaskStatus.pending,
                             v.origin, lane=v.lane)
        victim = v.preempted
        if victim is None:
            return Decision(decision=decision, verdict=v, task_events=(pending,))
        pre = decision_record(victim, now, None, source)
        victim_created = now if victim.created_at is None else min(utc(victim.created_at), now)
        failed = _failed_event(victim, now, victim_created, v.origin + f"|pre:{victim.task_id}")
        pushed_out = _memory(victim, now, f"memory:preempted:{victim.task_id}", victim.task_id)
        return Decision(decision=decision, verdict=v, preempted=pre, task_events=(pending, failed),
                        memory_events=(pushed_out,))
    failed = _failed_event(v, now, created, v.origin)
    memory: tuple[MemoryDiagnosticEvent, ...] = ()
    if v.code is RejectionCode.queue_overloaded and v.value is not None and v.lane is not None:
        memory = (_memory(v, now, "memory:queue_overloaded", v.task_id),)
    return Decision(decision=decision, verdict=v, task_events=(failed,), memory_events=memory)
