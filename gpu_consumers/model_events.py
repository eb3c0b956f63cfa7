"""`events.lane` records of a worker's model loads and evictions, with the reason (pure)."""

from __future__ import annotations

from datetime import datetime

from gpu_consumers.model_cache import ChangeKind, ModelChange
from schemas.enums import LaneEventType, RouteLane
from schemas.lane import LaneEvent

_KIND = {ChangeKind.loaded: LaneEventType.model_loaded, ChangeKind.evicted: LaneEventType.model_evicted}


def model_change_event(lane: RouteLane, worker_id: str, change: ModelChange, now: datetime) -> LaneEvent:
    return LaneEvent(
        occurred_at=now,
        event_type=_KIND[change.kind],
        lane_key=lane,
        worker_id=worker_id,
        served_model=change.model,
        note=change.reason,
    )
