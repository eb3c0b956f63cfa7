"""The lifecycle a worker publishes on `events.task` (pure), through the one `TaskEvent` builder
(`schemas.task_events`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas.decisions import AdmissionDecision
from schemas.enums import RouteLane, TaskErrorCode, TaskStatus
from schemas.task_events import task_event
from schemas.tasks import TaskEvent


@dataclass(frozen=True)
class TaskContext:
    """Who is running which item, and the how-manieth time."""

    decision: AdmissionDecision
    lane: RouteLane
    worker_id: str
    attempt: int

    @property
    def task_id(self) -> str:
        assert self.decision.task_id is not None  # accepted decisions always carry one
        return self.decision.task_id


def _event(ctx: TaskContext, status: TaskStatus, now: datetime, error_msg: str | None = None,
           **fields: Any) -> TaskEvent:
    """The task's transition to `status` at `now`, with the event fields of that status."""
    request = ctx.decision.request
    assert request is not None
    return task_event(
        ctx.task_id, request.model.value, request.type.value, status, request.submitted_at, now,
        error_msg=error_msg, lane=ctx.lane, worker_id=ctx.worker_id, attempt=ctx.attempt, **fields,
    )


def processing(ctx: TaskContext, now: datetime) -> TaskEvent:
    return _event(ctx, TaskStatus.processing, now)


def requeued(ctx: TaskContext, now: datetime) -> TaskEvent:
    """A started task whose worker died is back to `pending` before its next attempt starts."""
    return _event(ctx, TaskStatus.pending, now)


def done(
    ctx: TaskContext, now: datetime, artifact_path: str, duration_seconds: float, artifact_write_ms: float,
    pipeline_seconds: float | None = None,
) -> TaskEvent:
    return _event(
        ctx, TaskStatus.done, now, artifact_path=artifact_path, duration_seconds=duration_seconds,
        artifact_write_ms=artifact_write_ms, pipeline_seconds=pipeline_seconds,
    )


def failed(
    ctx: TaskContext,
    now: datetime,
    code: TaskErrorCode,
    error_msg: str,
    duration_seconds: float | None = None,
    pipeline_seconds: float | None = None,
) -> TaskEvent:
    return _event(
        ctx, TaskStatus.failed, now, error_msg or code.value, error_code=code, duration_seconds=duration_seconds,
        pipeline_seconds=pipeline_seconds,
    )


def failed_unparseable(
    task_id: str, lane: RouteLane, worker_id: str, now: datetime, error_msg: str
) -> TaskEvent:
    """A work item that is not a valid accepted decision: failed, so it is not lost silently."""
    return task_event(
        task_id, "unknown", "unknown", TaskStatus.failed, now, now,
        error_msg=error_msg or "invalid work item", lane=lane, worker_id=worker_id,
        error_code=TaskErrorCode.invalid_job,
    )
