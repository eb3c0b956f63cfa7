"""Lane heartbeats on `events.lane`: availability, warm flag, served model, host pressure."""

from __future__ import annotations

from datetime import datetime

from gpu_consumers.lane_status import LaneStatusView
from schemas.enums import LaneEventType, RouteLane
from schemas.lane import HostPressure, LaneEvent

#: `note` is an Identity (<=128 chars): the load error is cut to fit.
_NOTE_CHARS = 128


def heartbeat_event(
    lane: RouteLane, worker_id: str, status: LaneStatusView, host: HostPressure, now: datetime
) -> LaneEvent:
    note = None
    if status.last_load_error:
        note = f"load failed x{status.consecutive_load_failures}: {status.last_load_error}"[:_NOTE_CHARS]
    return LaneEvent(
        occurred_at=now,
        event_type=LaneEventType.heartbeat,
        lane_key=lane,
        availability=status.availability,
        warm=status.warm,
        worker_id=worker_id,
        served_model=status.served_model,
        host=host,
        gpu_sessions_quota_exhausted=host.gpu_sessions_in_use >= host.gpu_session_quota,
        note=note,
    )
