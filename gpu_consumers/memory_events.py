"""`MemoryDiagnosticEvent` builders for `events.memory`, keyed by lane (pure)."""

from __future__ import annotations

from datetime import datetime

from gpu_consumers.memory_guard import MemorySnapshot
from schemas.enums import LaneMode, MemoryEventType, ModelName, RouteLane
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
    task_id: str | None,
) -> MemoryDiagnosticEvent:
    return MemoryDiagnosticEvent(
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
