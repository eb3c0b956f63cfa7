"""The one builder of a `TaskEvent`: a task's move to a status, from whichever side writes it.

Admission writes `pending` and the `failed` of a rejection; the lane workers write the rest.
Both build the event here, so the task record is shaped one way: the message cut to what the
contract takes, `created_at` never after `updated_at` (a producer's skewed clock must not make
the event invalid), and the status-specific fields passed through to the contract's checks.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from schemas.enums import RouteLane, TaskErrorCode, TaskStatus
from schemas.limits import MAX_TEXT_CHARS
from schemas.tasks import GenerationTask, TaskEvent


def task_event(
    task_id: str,
    model: str,
    type_: str,
    status: TaskStatus,
    created_at: datetime,
    now: datetime,
    *,
    error_msg: str | None = None,
    event_id: uuid.UUID | None = None,
    lane: RouteLane | None = None,
    error_code: TaskErrorCode | None = None,
    worker_id: str | None = None,
    attempt: int = 0,
    artifact_path: str | None = None,
    duration_seconds: float | None = None,
    artifact_write_ms: float | None = None,
    pipeline_seconds: float | None = None,
) -> TaskEvent:
    """The task `task_id` moved to `status` at `now`; `event_id` for ids derived from a log
    position (replays give the same ids), else a fresh one."""
    task = GenerationTask(
        id=task_id,
        model=model,
        type=type_,
        status=status,
        error_msg=error_msg[:MAX_TEXT_CHARS] if error_msg else None,
        created_at=min(created_at, now),
        updated_at=now,
    )
    ids: dict[str, Any] = {} if event_id is None else {"event_id": event_id}
    return TaskEvent(
        **ids,
        occurred_at=now,
        task=task,
        lane=lane,
        error_code=error_code,
        worker_id=worker_id,
        attempt=attempt,
        artifact_path=artifact_path,
        duration_seconds=duration_seconds,
        artifact_write_ms=artifact_write_ms,
        pipeline_seconds=pipeline_seconds,
    )
