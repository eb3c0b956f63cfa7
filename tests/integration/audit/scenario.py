"""A realistic pipeline run as real, schema-valid messages on the real topics.

The admission agent and GPU workers are built concurrently, so the audit tests replay what they
publish: decisions (accepted, degraded, rejected incl. `queue_overloaded` up to depth 25),
lane degrade/restore, heartbeats with host pressure, task transitions and memory events. This one
module is the seam where a full pipeline run can replace the generator later.

All timestamps lie in the last ~30 minutes (a TTL would drop older rows at insert).
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from schemas import (
    Availability,
    FallbackReason,
    GenerationRequest,
    HostPressure,
    LaneMode,
    MemoryEventType,
    ModelName,
    Priority,
    RejectionCode,
    RouteLane,
    TaskStatus,
)
from schemas.decisions import Degradation, FieldError, SourceRecord
from schemas.envelope import utc_now
from schemas.topics import Topics
from tests import broker_io, factories
from tests.broker_io import Record


@dataclass
class Scenario:
    #: (topic attribute of `Topics`, key, message)
    messages: list[tuple[str, str | None, BaseModel]] = field(default_factory=list)

    def add(self, topic: str, key: str | None, message: BaseModel) -> None:
        self.messages.append((topic, key, message))

    def count(self, topic: str) -> int:
        return sum(1 for t, _, _ in self.messages if t == topic)

    def per_topic(self) -> Counter[str]:
        return Counter(t for t, _, _ in self.messages)


def _request(model: ModelName, at: datetime, priority: Priority = Priority.standard) -> GenerationRequest:
    return factories.request(
        model, prompt="a paper boat drifting down a rainy street", input_image="file:///images/boat.png",
        width=1280, height=720, num_frames=33, priority=priority, submitted_at=at,
    )


def _host(load1: float, write_ms: float, vram: float, in_use: int) -> HostPressure:
    return factories.host(
        load1=load1, cpu_cores=8, artifact_write_ms=write_ms, gpu_sessions_in_use=in_use,
        gpu_session_quota=2, vram_used_gib=vram, vram_total_gib=80.0, rss_gib=6.5,
    )


class _Builder:
    def __init__(self, start: datetime) -> None:
        self.s = Scenario()
        self.t = start
        self.availability: dict[RouteLane, Availability] = {}

    def tick(self, seconds: float) -> datetime:
        self.t += timedelta(seconds=seconds)
        return self.t

    def lane_state(self, lane: RouteLane, mode: LaneMode | None, availability: Availability,
                   reason: FallbackReason | None = None) -> None:
        self.availability[lane] = availability
        self.s.add("events_lane", lane.value, factories.lane_state(
            lane, mode, self.t, availability=availability, fallback_reason=reason,
            warm=availability is Availability.ready,
        ))

    def heartbeats(self, load: float, write_ms: float) -> None:
        for i, lane in enumerate(RouteLane):
            availability = self.availability.get(lane, Availability.ready)
            self.s.add("events_lane", lane.value, factories.heartbeat(
                lane, self.t, worker=f"{lane.value}-w1",
                availability=availability, warm=availability is Availability.ready,
                served_model=ModelName.phr00t if lane is not RouteLane.anisora else ModelName.anisora,
                host=_host(load + i * 0.3, write_ms + i * 5, 20.0 + 4 * i, i % 2),
            ))

    def accepted(self, model: ModelName, lane: RouteLane, mode: LaneMode, depth: int, wait: float,
                 priority: Priority = Priority.standard, degrade: bool = False) -> GenerationRequest:
        req = _request(model, self.t, priority)
        degradations = []
        if degrade:
            degradations = [Degradation(parameter="resolution", requested="1280x720", granted="832x480"),
                            Degradation(parameter="fps", requested="16", granted="8")]
            req = req.model_copy(update={"width": 832, "height": 480, "fps": 8})
        self.s.add("tasks_accepted", req.task_id, factories.accepted(
            req, model=model, priority=priority, lane=lane, lane_mode=mode, queue_depth=depth,
            estimated_wait_seconds=wait, time_to_ready_seconds=wait + 2.0, degradations=degradations,
            occurred_at=self.t,
        ))
        self.s.add("events_task", req.task_id, factories.task_event(
            TaskStatus.pending, req.task_id, lane, model=model.value, task_type=req.type.value, at=self.t,
            worker_id=None))
        return req

    def run_task(self, req: GenerationRequest, lane: RouteLane, mode: LaneMode, seconds: float,
                 vram: float, oom: bool = False) -> None:
        created = req.submitted_at
        start = self.tick(1.0)
        worker = f"{lane.value}-w1"
        started = factories.task_event(TaskStatus.processing, req.task_id, lane, model=req.model.value,
                                       task_type=req.type.value, at=start, created_at=created, worker_id=worker,
                                       attempt=1)
        self.s.add("events_task", req.task_id, started)
        end = self.tick(seconds)
        if oom:
            failed = started.task.transition(TaskStatus.failed, end, "CUDA out of memory")
            self.s.add("events_task", req.task_id, factories.task_event(
                TaskStatus.failed, lane=lane, task=failed, worker_id=worker, attempt=1, error_code="gpu_oom",
                duration_seconds=seconds, occurred_at=end))
        else:
            done = started.task.transition(TaskStatus.done, end)
            self.s.add("events_task", req.task_id, factories.task_event(
                TaskStatus.done, lane=lane, task=done, worker_id=worker, attempt=1, duration_seconds=seconds,
                artifact_path=f"/artifacts/{req.task_id}.mp4", artifact_write_ms=40.0,
                pipeline_seconds=round(seconds * 0.9, 3), occurred_at=end))
            self.memory(MemoryEventType.memory_post_generation, req, lane, mode, vram, "allocated_gib")
        self.memory(MemoryEventType.memory_cleanup, req, lane, mode, round(vram * 0.15, 3), "allocated_gib")

    def memory(self, kind: MemoryEventType, req: GenerationRequest | None, lane: RouteLane,
               mode: LaneMode, value: float | None, unit: str | None,
               reason: FallbackReason | None = None) -> None:
        self.s.add("events_memory", lane.value, factories.memory_event(
            kind, task_id=req.task_id if req else None,
            model=req.model if req else None, lane_mode=mode, lane=lane, value=value,
            value_unit=unit, reason=reason, worker_id=f"{lane.value}-w1", occurred_at=self.t))

    def rejected(self, code: RejectionCode, model: ModelName | None, lane: RouteLane | None,
                 mode: LaneMode | None, depth: int | None, wait: float | None, **extra: Any) -> None:
        task_id = extra.pop("task_id", f"task-{uuid.uuid4().hex[:12]}")
        fields: dict[str, Any] = {"detail": None, "retry_after_seconds": None, **extra}
        self.s.add("tasks_rejected", task_id, factories.rejected(
            code, task_id=task_id, model=model, lane=lane, lane_mode=mode, queue_depth=depth,
            estimated_wait_seconds=wait, title=code.value.replace("_", " "), occurred_at=self.t, **fields))


def build(now: datetime | None = None) -> Scenario:
    """~30 minutes of a day on both lanes: normal, phr00t degraded to shared, overload, restore."""
    b = _Builder((now or utc_now()) - timedelta(minutes=30))
    ded, deg = LaneMode.dedicated, LaneMode.degraded_shared
    b.lane_state(RouteLane.anisora, ded, Availability.ready)
    b.lane_state(RouteLane.phr00t, ded, Availability.ready)
    # normal operation: both lanes dedicated
    for i in range(6):
        b.heartbeats(load=1.0 + i * 0.1, write_ms=30.0)
        for model in ModelName:
            lane = RouteLane(model.value)
            req = b.accepted(model, lane, ded, depth=i % 3, wait=4.0 * (i % 3))
            b.run_task(req, lane, ded, seconds=8.0 + i, vram=18.0 + i * 0.5 + (3 if model is ModelName.anisora else 0),
                       oom=(model is ModelName.anisora and i == 4))
        b.rejected(RejectionCode.validation_error, ModelName.phr00t, None, None, None, None,
                   detail="phr00t steps must be 4",
                   errors=[FieldError(loc=["steps"], msg="phr00t steps must be 4", type="value_error")])
        b.tick(20)
    # phr00t loses capacity: fallback to the shared lane
    b.tick(10)
    b.lane_state(RouteLane.phr00t, deg, Availability.unavailable, FallbackReason.capacity)
    b.memory(MemoryEventType.fallback_activated, None, RouteLane.phr00t, deg, None, None, FallbackReason.capacity)
    queued: list[GenerationRequest] = []
    for depth in range(1, 26):
        b.tick(6)
        if depth % 5 == 0:
            b.heartbeats(load=3.0 + depth * 0.2, write_ms=200.0 + depth * 40)
        queued.append(b.accepted(ModelName.phr00t, RouteLane.shared, deg, depth=depth,
                                 wait=min(29.5, depth * 1.18), degrade=depth > 10,
                                 priority=Priority.background if depth % 4 == 0 else Priority.standard))
    # full: depth and wait breaches are refused before any GPU work
    for i in range(8):
        b.tick(2)
        reason = "depth" if i % 2 == 0 else "wait"
        b.rejected(RejectionCode.queue_overloaded, ModelName.phr00t, RouteLane.shared, deg,
                   depth=25, wait=29.5 + (i % 2) * 3.0, reason=reason, retry_after_seconds=30,
                   detail="shared lane queue holds 25 items (max 25)")
        b.memory(MemoryEventType.queue_overloaded, None, RouteLane.shared, deg,
                 25.0 if reason == "depth" else 32.5, "queue_depth" if reason == "depth" else "wait_seconds")
    b.rejected(RejectionCode.gpu_quota_exhausted, ModelName.anisora, RouteLane.anisora, ded, 2, 8.0,
               retry_after_seconds=10, reason="stale_signal")
    b.rejected(RejectionCode.malformed_request, None, None, None, None, None, task_id=None,
               detail="not JSON", source=SourceRecord(topic="framegate.tasks.requested", partition=1, offset=42))
    # the shared lane drains; the oldest one waited too long
    for i, req in enumerate(queued[:12]):
        if i == 3:
            b.memory(MemoryEventType.queue_timeout, req, RouteLane.shared, deg, 34.0, "wait_seconds")
            b.s.add("events_task", req.task_id, factories.task_event(
                TaskStatus.failed, req.task_id, RouteLane.shared, model=req.model.value, task_type=req.type.value,
                at=b.tick(1), created_at=req.submitted_at, error_msg="waited 34 s (max 30)", worker_id=None,
                error_code="queue_overloaded"))
            continue
        if i == 5:
            # a hostile re-send of a queued id was refused, and the refusal wrote a task event for
            # it (issue 9): the task's history becomes pending -> failed -> processing -> done
            b.s.add("events_task", req.task_id, factories.task_event(
                TaskStatus.failed, req.task_id, None, model=req.model.value, task_type=req.type.value,
                at=b.tick(1), created_at=req.submitted_at, error_msg="steps: Input should be 4",
                error_code="admission_rejected"))
        b.run_task(req, RouteLane.shared, deg, seconds=4.0, vram=12.0 + (i % 4))
    # capacity restored
    b.tick(15)
    b.lane_state(RouteLane.phr00t, ded, Availability.ready)
    b.heartbeats(load=1.2, write_ms=35.0)
    return b.s


async def publish(bootstrap: str, topics: Topics, messages: list[tuple[str, str | None, BaseModel]],
                  raw: list[tuple[str, bytes | None]] = ()) -> None:  # type: ignore[assignment]
    """Sends every message to its topic (and raw byte payloads as given), acks=all."""
    records: list[Record] = [
        (getattr(topics, attr), key.encode() if key else None, message.model_dump_json().encode())
        for attr, key, message in messages
    ]
    records += [(getattr(topics, attr), b"poison", payload) for attr, payload in raw]
    await broker_io.publish(bootstrap, records)
