"""Simulated lane workers: one job at a time each, FIFO over their lane's accepted items.

Like the real worker, an item that waited in a degraded queue past the policy's wait is dropped
unstarted (a `failed` task event with `queue_overloaded`), and an item admission preempted is
skipped. Workers of one lane share one FIFO (a consumer group spreading one topic's partitions
over its members is modelled as one queue served by all of them).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

from schemas import (
    Availability,
    GenerationTask,
    HostPressure,
    LaneEvent,
    LaneEventType,
    LaneMode,
    RouteLane,
    TaskErrorCode,
    TaskEvent,
    TaskStatus,
)


@dataclass(frozen=True)
class Item:
    task_id: str
    model: str
    enqueued: float
    mode: LaneMode
    service_s: float


@dataclass
class LaneWorkers:
    lane: RouteLane
    #: Workers that may take work now (changes with the scenario's GPU windows).
    capacity: int
    busy: set[int] = field(default_factory=set)
    fifo: deque[Item] = field(default_factory=deque)

    def idle_slot(self) -> int | None:
        for slot in range(self.capacity):
            if slot not in self.busy:
                return slot
        return None


_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
#: Templates copied per event: `model_copy` skips validation and the default factories, and
#: every field it fills comes from a decision the core already validated.
_TASK = GenerationTask(id="template", model="template", type="image_to_video", status=TaskStatus.processing,
                       created_at=_EPOCH, updated_at=_EPOCH)
_EVENT = TaskEvent(occurred_at=_EPOCH, task=_TASK, worker_id="sim")


def _event(item: Item, lane: RouteLane, status: TaskStatus, now: datetime, **fields: object) -> TaskEvent:
    task = _TASK.model_copy(update={"id": item.task_id, "model": item.model, "status": status,
                                    "created_at": now, "updated_at": now})
    return _EVENT.model_copy(update={"occurred_at": now, "task": task, "lane": lane, **fields})


def started_event(item: Item, lane: RouteLane, now: datetime) -> TaskEvent:
    return _event(item, lane, TaskStatus.processing, now)


def done_event(item: Item, lane: RouteLane, now: datetime) -> TaskEvent:
    return _event(item, lane, TaskStatus.done, now, duration_seconds=item.service_s)


def expired_event(item: Item, lane: RouteLane, now: datetime) -> TaskEvent:
    return _event(item, lane, TaskStatus.failed, now, error_code=TaskErrorCode.queue_overloaded)


_HOST_IDLE = HostPressure(load1=0.0, cpu_cores=8, artifact_write_ms=None, gpu_sessions_in_use=0)
_HOST_BUSY = HostPressure(load1=0.0, cpu_cores=8, artifact_write_ms=None, gpu_sessions_in_use=1)


_BEATS: dict[tuple[RouteLane, int, bool], LaneEvent] = {}


def heartbeat(lane: RouteLane, slot: int, busy: bool, now: datetime) -> LaneEvent:
    """A healthy, warm worker's heartbeat; `gpu_sessions_in_use` follows its job like the real one."""
    key = (lane, slot, busy)
    base = _BEATS.get(key)
    if base is None:
        base = _BEATS[key] = LaneEvent(
            event_type=LaneEventType.heartbeat, lane_key=lane, worker_id=f"sim-{lane.value}-{slot}",
            availability=Availability.ready, warm=True, host=_HOST_BUSY if busy else _HOST_IDLE,
            occurred_at=_EPOCH)
    return base.model_copy(update={"occurred_at": now})
