"""Builders for admission unit tests: states with lanes, heartbeats and queues, no broker."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas import (
    Availability,
    FallbackReason,
    GenerationRequest,
    HostPressure,
    LaneEvent,
    LaneEventType,
    LaneMode,
    ModelName,
    RouteLane,
)
from streams.admission.state import AdmissionConfig, AdmissionState, fold_lane_event

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
_ids = itertools.count()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def request(model: ModelName = ModelName.anisora, **overrides: Any) -> GenerationRequest:
    fields: dict[str, Any] = {
        "task_id": f"task-{next(_ids)}",
        "model": model,
        "prompt": "a lighthouse at dusk",
        "input_image": "file:///lighthouse.png",
        "steps": 8 if model is ModelName.anisora else 4,
        "cfg": 1.0,
        "width": 832,
        "height": 480,
        "num_frames": 81,
        "fps": 16,
        "submitted_at": T0,
    }
    fields.update(overrides)
    return GenerationRequest(**fields)


def heartbeat(lane: RouteLane, when: datetime = T0, worker: str = "w1", **host: Any) -> LaneEvent:
    availability = host.pop("availability", Availability.ready)
    pressure = {"load1": 0.2, "cpu_cores": 4, **host}
    return LaneEvent(
        event_type=LaneEventType.heartbeat, lane_key=lane, worker_id=worker, availability=availability,
        warm=True, host=HostPressure(**pressure), occurred_at=when,
    )


def degrade(lane: RouteLane, reason: FallbackReason = FallbackReason.capacity, when: datetime = T0) -> LaneEvent:
    return LaneEvent(event_type=LaneEventType.lane_state, lane_key=lane, mode=LaneMode.degraded_shared,
                     fallback_reason=reason, occurred_at=when)


def state(degraded: bool = False, config: AdmissionConfig | None = None, **host: Any) -> AdmissionState:
    """Every lane has one fresh, healthy worker at T0; `degraded` routes anisora to shared."""
    s = AdmissionState(config=config or AdmissionConfig(critical_producers=frozenset({"ops"})))
    for lane in RouteLane:
        fold_lane_event(s, heartbeat(lane, **host))
    if degraded:
        fold_lane_event(s, degrade(RouteLane.anisora))
    return s
