"""Event ids and the task events admission writes: below both `parsing` and `decide`.

Every id is derived from the request's log position (`origin_of`), so replaying the same log
yields the same ids; topic names are left out of the origin on purpose, so a replay
into a fresh prefix gives the same ids.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from schemas import (
    AdmissionDecision,
    GenerationRequest,
    RouteLane,
    SourceRecord,
    TaskErrorCode,
    TaskEvent,
    TaskStatus,
)
from schemas.event_ids import derived_event_id
from schemas.task_events import task_event as build_task_event


def event_id(origin: str, kind: str) -> uuid.UUID:
    """Deterministic ids: the same log position always yields the same event ids."""
    return derived_event_id(origin, kind)


def origin_of(source: SourceRecord | None, task_id: str | None, now: datetime) -> str:
    if source is not None:
        return f"p{source.partition}o{source.offset}"
    return f"t{task_id}@{now.isoformat()}"


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
    """The shared builder (`schemas.task_events`), with the id derived from the log position."""
    return build_task_event(
        task_id, model, type_, status, created_at, now, error_msg=error_msg,
        event_id=event_id(origin, f"task:{task_id}:{status.value}"), lane=lane, error_code=error_code,
    )


def rejection_task_event(decision: AdmissionDecision, request: GenerationRequest | None,
                         model: str, type_: str, now: datetime, origin: str,
                         created_at: datetime | None = None) -> TaskEvent | None:
    """The `failed` task event of a rejection: only for the task's own decision.

    A rejection of an id that was already decided (`decided_earlier`) or has no id writes none:
    the task's history belongs to its own decision.
    """
    if decision.task_id is None or decision.decided_earlier or decision.replayed:
        return None
    created = created_at or (request.submitted_at if request is not None else now)
    return task_event(
        decision.task_id, model, type_, created, now, TaskStatus.failed, origin,
        lane=decision.lane, error_msg=f"{decision.code}: {decision.detail or decision.title}",
        error_code=TaskErrorCode.admission_rejected,
    )
