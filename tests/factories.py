"""Valid instances of every wire message, for tests to start from and vary."""

from __future__ import annotations

import uuid
from typing import Any

from schemas import (
    AdmissionDecision,
    Availability,
    DecisionOutcome,
    FallbackReason,
    GenerationRequest,
    GenerationTask,
    HostPressure,
    LaneEvent,
    LaneEventType,
    LaneMode,
    MemoryDiagnosticEvent,
    MemoryEventType,
    ModelName,
    RejectionCode,
    RouteLane,
    TaskEvent,
    TaskStatus,
)
from schemas.envelope import utc_now


def request(model: ModelName = ModelName.phr00t, **overrides: Any) -> GenerationRequest:
    fields: dict[str, Any] = {
        "task_id": f"task-{uuid.uuid4().hex[:12]}",
        "model": model,
        "prompt": "a lighthouse at dusk, waves",
        "input_image": "file:///images/lighthouse.png",
        "steps": 8 if model is ModelName.anisora else 4,
        "cfg": 1.0,
        "width": 832,
        "height": 480,
        "num_frames": 81,
        "fps": 16,
    }
    fields.update(overrides)
    return GenerationRequest(**fields)


def accepted(req: GenerationRequest | None = None, **overrides: Any) -> AdmissionDecision:
    req = req or request()
    fields: dict[str, Any] = {
        "outcome": DecisionOutcome.accepted,
        "task_id": req.task_id,
        "model": req.model,
        "priority": req.priority,
        "lane": RouteLane(req.model.value),
        "lane_mode": LaneMode.dedicated,
        "queue_depth": 1,
        "estimated_wait_seconds": 0.0,
        "request": req,
    }
    fields.update(overrides)
    return AdmissionDecision(**fields)


def rejected(
    code: RejectionCode = RejectionCode.queue_overloaded, **overrides: Any
) -> AdmissionDecision:
    fields: dict[str, Any] = {
        "outcome": DecisionOutcome.rejected,
        "task_id": f"task-{uuid.uuid4().hex[:12]}",
        "status": code.status,
        "code": code,
        "title": "Queue overloaded",
        "detail": "shared lane queue holds 25 items (max 25)",
        "retry_after_seconds": 30,
        "lane": RouteLane.shared,
        "lane_mode": LaneMode.degraded_shared,
        "queue_depth": 25,
    }
    fields.update(overrides)
    return AdmissionDecision(**fields)


def task(status: TaskStatus = TaskStatus.pending, **overrides: Any) -> GenerationTask:
    now = utc_now()
    fields: dict[str, Any] = {
        "id": f"task-{uuid.uuid4().hex[:12]}",
        "model": "phr00t",
        "type": "image_to_video",
        "status": status,
        "error_msg": "boom" if status is TaskStatus.failed else None,
        "created_at": now,
        "updated_at": now,
    }
    fields.update(overrides)
    return GenerationTask(**fields)


def task_event(status: TaskStatus = TaskStatus.processing, **overrides: Any) -> TaskEvent:
    fields: dict[str, Any] = {"task": task(status), "lane": RouteLane.phr00t, "worker_id": "w-1"}
    if status is TaskStatus.done:
        fields["artifact_path"] = "/artifacts/x.mp4"
    if status is TaskStatus.failed:
        fields["error_code"] = "gpu_oom"
    fields.update(overrides)
    return TaskEvent(**fields)


def host(**overrides: Any) -> HostPressure:
    fields: dict[str, Any] = {"load1": 0.5, "cpu_cores": 2, "artifact_write_ms": 12.0}
    fields.update(overrides)
    return HostPressure(**fields)


def heartbeat(lane: RouteLane = RouteLane.phr00t, **overrides: Any) -> LaneEvent:
    fields: dict[str, Any] = {
        "event_type": LaneEventType.heartbeat,
        "lane_key": lane,
        "worker_id": f"{lane.value}-w1",
        "availability": Availability.ready,
        "warm": True,
        "host": host(),
    }
    fields.update(overrides)
    return LaneEvent(**fields)


def lane_degraded(lane: RouteLane = RouteLane.anisora, **overrides: Any) -> LaneEvent:
    fields: dict[str, Any] = {
        "event_type": LaneEventType.lane_state,
        "lane_key": lane,
        "mode": LaneMode.degraded_shared,
        "fallback_reason": FallbackReason.capacity,
    }
    fields.update(overrides)
    return LaneEvent(**fields)


def memory_event(
    kind: MemoryEventType = MemoryEventType.memory_post_generation, **overrides: Any
) -> MemoryDiagnosticEvent:
    fields: dict[str, Any] = {
        "event_type": kind,
        "lane_mode": LaneMode.dedicated,
        "lane": RouteLane.phr00t,
        "model": ModelName.phr00t,
        "value": 1.25,
        "value_unit": "rss_gib",
    }
    if kind is MemoryEventType.fallback_activated:
        fields.update(reason=FallbackReason.capacity, value=None, value_unit=None)
    fields.update(overrides)
    return MemoryDiagnosticEvent(**fields)


def one_of_each() -> list[Any]:
    """One valid instance of every wire message type."""
    return [
        request(),
        accepted(),
        rejected(),
        task_event(TaskStatus.done),
        heartbeat(),
        lane_degraded(),
        memory_event(),
        memory_event(MemoryEventType.fallback_activated),
    ]
