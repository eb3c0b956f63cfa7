"""Valid instances of every wire message, for tests to start from and vary: the one place tests
build requests, decisions and events (unit and integration alike).

Times: events default to now, as a live service would stamp them; tests of pure state pass `T0` and
`at(seconds)` for a fixed clock.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
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
    TaskType,
)
from schemas.envelope import utc_now

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

#: The seed's fixed denoising steps per model.
STEPS = {ModelName.anisora: 8, ModelName.phr00t: 4}


def at(seconds: float) -> datetime:
    """`seconds` after `T0`."""
    return T0 + timedelta(seconds=seconds)


def request(model: ModelName = ModelName.anisora, **overrides: Any) -> GenerationRequest:
    """A valid image-to-video request at the seed's 832x480 preset, submitted at `T0`."""
    fields: dict[str, Any] = {
        "task_id": f"task-{uuid.uuid4().hex[:12]}",
        "model": model,
        "prompt": "a lighthouse at dusk, waves",
        "input_image": "file:///images/lighthouse.png",
        "steps": STEPS[model],
        "cfg": 1.0,
        "width": 832,
        "height": 480,
        "num_frames": 81,
        "fps": 16,
        "submitted_at": T0,
    }
    fields.update(overrides)
    return GenerationRequest(**fields)


def tiny_request(model: ModelName = ModelName.phr00t, **overrides: Any) -> GenerationRequest:
    """A text-to-video request small enough for a tiny random-weight model on a CPU."""
    fields: dict[str, Any] = {
        "type": TaskType.text_to_video,
        "input_image": None,
        "prompt": "a paper boat drifting on a pond",
        "width": 32,
        "height": 32,
        "num_frames": 9,
        "fps": 8,
        "seed": 7,
        "submitted_at": utc_now(),
    }
    fields.update(overrides)
    return request(model, **fields)


def invalid_wire(req: GenerationRequest) -> bytes:
    """`req` on the wire with a step count its model does not allow: a 422 that keeps its task id."""
    wire = req.to_wire()
    bad = wire.replace(f'"steps":{req.steps},'.encode(), b'"steps":5,', 1)
    assert bad != wire
    return bad


def request_body(model: ModelName = ModelName.phr00t, **overrides: Any) -> dict[str, Any]:
    """A request as a client POSTs it (JSON, no server-stamped time); `overrides` are applied
    unchecked, so a test can make the body invalid."""
    body = request(model, task_id=f"gw-{uuid.uuid4().hex[:12]}").model_dump(
        mode="json", exclude_unset=True
    )
    del body["submitted_at"]
    body.update(overrides)
    return body


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


def task_event(
    status: TaskStatus = TaskStatus.processing,
    task_id: str | None = None,
    lane: RouteLane | None = RouteLane.phr00t,
    *,
    model: str | None = None,
    task_type: str | None = None,
    at: datetime | None = None,
    created_at: datetime | None = None,
    error_msg: str | None = None,
    **overrides: Any,
) -> TaskEvent:
    """A lane's event for one task (`lane=None`: admission's own, with no worker). `at` is when it
    happened (the task's update time too; default now), `created_at` when the task was made
    (default `at`); `overrides` set the event's own fields (`task=` a whole task of its own)."""
    task_fields: dict[str, Any] = {"id": task_id, "model": model, "type": task_type, "error_msg": error_msg}
    if at is not None:
        task_fields.update(created_at=created_at or at, updated_at=at)
    elif created_at is not None:
        task_fields["created_at"] = created_at
    fields: dict[str, Any] = {
        "task": task(status, **{k: v for k, v in task_fields.items() if v is not None}),
        "lane": lane,
        "worker_id": "w-1" if lane is not None else None,
    }
    if at is not None:
        fields["occurred_at"] = at
    if status is TaskStatus.done:
        fields["artifact_path"] = "/artifacts/x.mp4"
    if status is TaskStatus.failed:
        fields["error_code"] = "gpu_oom"
    fields.update(overrides)
    return TaskEvent(**fields)


def host(**overrides: Any) -> HostPressure:
    """A host well inside every withdrawal threshold."""
    fields: dict[str, Any] = {"load1": 0.2, "cpu_cores": 4, "artifact_write_ms": 12.0}
    fields.update(overrides)
    return HostPressure(**fields)


def heartbeat(
    lane: RouteLane = RouteLane.phr00t,
    when: datetime | None = None,
    worker: str = "w1",
    **overrides: Any,
) -> LaneEvent:
    """A ready, warm worker's heartbeat. `overrides` naming a `HostPressure` field (`load1`,
    `artifact_write_ms`, ...) set the host's pressure; the others set the event's fields."""
    pressure = {k: overrides.pop(k) for k in list(overrides) if k in HostPressure.model_fields}
    fields: dict[str, Any] = {
        "event_type": LaneEventType.heartbeat,
        "lane_key": lane,
        "worker_id": worker,
        "availability": Availability.ready,
        "warm": True,
        "host": host(**pressure),
        "occurred_at": when or utc_now(),
    }
    fields.update(overrides)
    return LaneEvent(**fields)


def lane_state(
    lane: RouteLane = RouteLane.anisora,
    mode: LaneMode | None = None,
    when: datetime | None = None,
    **overrides: Any,
) -> LaneEvent:
    """A lane's switch to `mode` (the operator's or a worker's; `mode=None`: its availability alone)."""
    fields: dict[str, Any] = {
        "event_type": LaneEventType.lane_state,
        "lane_key": lane,
        "mode": mode,
        "occurred_at": when or utc_now(),
    }
    fields.update(overrides)
    return LaneEvent(**fields)


def degrade(
    lane: RouteLane = RouteLane.anisora,
    reason: FallbackReason = FallbackReason.capacity,
    when: datetime | None = None,
    **overrides: Any,
) -> LaneEvent:
    """The operator's (or a worker's) switch of `lane` to the shared fallback."""
    fields: dict[str, Any] = {"mode": LaneMode.degraded_shared, "fallback_reason": reason, **overrides}
    return lane_state(lane, when=when, **fields)


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
        degrade(),
        memory_event(),
        memory_event(MemoryEventType.fallback_activated),
    ]
