"""`MemoryDiagnosticEvent` builders for `events.memory`, keyed by lane (pure)."""

from __future__ import annotations

from datetime import datetime

from gpu_consumers.memory_guard import MemorySnapshot
from schemas.enums import LaneMode, MemoryEventType, ModelName, RouteLane
from schemas.event_ids import queue_timeout_event_id
from schemas.memory import MemoryDiagnosticEvent


def memory_event(
    kind: MemoryEventType,
    snapshot: MemorySnapshot,
    *,
    lane: RouteLane,
    lane_mode: LaneMode,
    worker_id: str,
    now: datetime,
    model: ModelName | None = None,
    task_id: str | None = None,
) -> MemoryDiagnosticEvent:
    value, unit = snapshot.headline()
    return MemoryDiagnosticEvent(
        occurred_at=now,
        event_type=kind,
        task_id=task_id,
        model=model,
        lane=lane,
        lane_mode=lane_mode,
        value=value,
        value_unit=unit,
        worker_id=worker_id,
    )


def queue_timeout(
    *,
    lane: RouteLane,
    lane_mode: LaneMode,
    worker_id: str,
    now: datetime,
    waited_s: float,
    model: ModelName | None,
    task_id: str,
) -> MemoryDiagnosticEvent:
    """The one `queue_timeout` of an expired task: its id derives from the task, so a redelivered
    item's second report collapses with the first in the audit tables."""
    return MemoryDiagnosticEvent(
        event_id=queue_timeout_event_id(task_id),
        occurred_at=now,
        event_type=MemoryEventType.queue_timeout,
        task_id=task_id,
        model=model,
        lane=lane,
        lane_mode=lane_mode,
        value=round(waited_s, 3),
        value_unit="wait_seconds",
        worker_id=worker_id,
    )
