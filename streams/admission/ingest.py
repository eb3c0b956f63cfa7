"""The edge's first job: wire records -> the core's facts and verdicts.

Requests are validated with the contract models (`parsing`); worker and lane events and the
decisions read back from the logs are read into the plain facts and verdicts the core folds.
Times become epoch seconds here (`datetime.timestamp()`, exact to the microsecond).
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from schemas import (
    AdmissionDecision,
    FieldError,
    GenerationRequest,
    LaneEvent,
    LaneEventType,
    SourceRecord,
    TaskEvent,
)
from streams.admission.core.facts import (
    FieldProblem,
    HeartbeatFacts,
    LaneStateFacts,
    RequestFacts,
    TaskFacts,
)
from streams.admission.core.verdict import Step, Verdict
from streams.admission.events import origin_of


def input_scheme(reference: str | None) -> str | None:
    """The URI scheme of `input_image` ("" for a plain path); None when there is none."""
    if reference is None:
        return None
    scheme = urlsplit(reference).scheme.lower()
    return "" if len(scheme) == 1 else scheme  # one letter: a Windows drive, not a scheme


def request_facts(request: GenerationRequest, source: SourceRecord | None, now: datetime) -> RequestFacts:
    return RequestFacts(
        task_id=request.task_id,
        model=request.model,
        model_name=request.model.value,
        priority=request.priority,
        task_type=request.type.value,
        producer=request.producer,
        width=request.width,
        height=request.height,
        fps=request.fps,
        num_frames=request.num_frames,
        steps=request.steps,
        encoding_profile=request.encoding_profile,
        submitted_at=request.submitted_at.timestamp(),
        input_scheme=input_scheme(request.input_image),
        origin=origin_of(source, request.task_id, now),
        position=(source.partition, source.offset) if source is not None else None,
    )


def lane_facts(event: LaneEvent) -> HeartbeatFacts | LaneStateFacts | None:
    """A heartbeat or a `lane_state` change; None for events admission does not fold."""
    at = event.occurred_at.timestamp()
    if event.event_type is LaneEventType.heartbeat:
        host = event.host
        assert event.worker_id is not None and host is not None and event.availability is not None
        return HeartbeatFacts(
            lane=event.lane_key, worker_id=event.worker_id, availability=event.availability,
            warm=bool(event.warm), served_model=event.served_model, load1=host.load1,
            cpu_cores=host.cpu_cores, artifact_write_ms=host.artifact_write_ms,
            gpu_sessions_in_use=host.gpu_sessions_in_use, gpu_session_quota=host.gpu_session_quota,
            shared_fallback_enabled=host.shared_fallback_enabled,
            quota_exhausted_flag=bool(event.gpu_sessions_quota_exhausted), at=at,
        )
    if event.event_type is LaneEventType.lane_state:
        return LaneStateFacts(lane=event.lane_key, availability=event.availability, warm=event.warm,
                              mode=event.mode, fallback_reason=event.fallback_reason, at=at,
                              event_id=str(event.event_id))
    return None


def task_facts(event: TaskEvent) -> TaskFacts:
    served = event.pipeline_seconds if event.pipeline_seconds is not None else event.duration_seconds
    return TaskFacts(task_id=event.task_id, status=event.task.status, lane=event.lane,
                     model=event.task.model, served_s=served, at=event.occurred_at.timestamp(),
                     event_id=str(event.event_id))


def field_problems(errors: list[FieldError]) -> tuple[FieldProblem, ...]:
    return tuple(FieldProblem(tuple(e.loc), e.msg, e.type) for e in errors)


def decision_verdict(decision: AdmissionDecision) -> Verdict:
    """A decision read back from the logs, as the verdict that rendered it."""
    source, request = decision.source, decision.request
    preempted = decision.reason == "preempted"
    return Verdict(
        outcome=decision.outcome, task_id=decision.task_id, at=decision.occurred_at.timestamp(),
        origin="", kind=f"preempted:{decision.task_id}" if preempted else "decision",
        model=decision.model, priority=decision.priority, lane=decision.lane, mode=decision.lane_mode,
        queue_depth=decision.queue_depth, wait_s=decision.estimated_wait_seconds,
        time_to_ready_s=decision.time_to_ready_seconds,
        steps=tuple(Step(d.parameter, d.requested, d.granted) for d in decision.degradations),
        code=decision.code, title=decision.title, detail=decision.detail,
        retry_after_s=decision.retry_after_seconds, reason=decision.reason,
        errors=field_problems(decision.errors),
        position=(source.partition, source.offset) if source is not None else None,
        folded=(decision.events_task_upto, decision.events_lane_upto),
        replayed=decision.replayed, decided_earlier=decision.decided_earlier,
        model_name=decision.model.value if decision.model else "unknown",
        task_type=request.type.value if request is not None else "unknown",
        created_at=request.submitted_at.timestamp() if request is not None else None,
        event_id=str(decision.event_id),
    )
