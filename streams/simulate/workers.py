"""Simulated lane workers: one job at a time each, FIFO over their lane's accepted items.

Like the real worker, an item that waited in a degraded queue past the policy's wait is dropped
unstarted (a `failed` task event with `queue_overloaded`), and an item admission preempted is
skipped. Workers of one lane share one FIFO (a consumer group spreading one topic's partitions
over its members is modelled as one queue served by all of them).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

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


def _task(item: Item, status: TaskStatus, now: datetime, msg: str | None = None) -> GenerationTask:
    # Built without validation: the fields come from a decision the core already validated.
    return GenerationTask.model_construct(
        id=item.task_id, model=item.model, type="image_to_video", status=status,
        error_msg=msg, created_at=now, updated_at=now,
    )


def started_event(item: Item, lane: RouteLane, now: datetime) -> TaskEvent:
    return TaskEvent.model_construct(occurred_at=now, task=_task(item, TaskStatus.processing, now),
                                     lane=lane, duration_seconds=None, error_code=None)


def done_event(item: Item, lane: RouteLane, now: datetime) -> TaskEvent:
    return TaskEvent.model_construct(occurred_at=now, task=_task(item, TaskStatus.done, now), lane=lane,
                                     duration_seconds=item.service_s, error_code=None)


def expired_event(item: Item, lane: RouteLane, now: datetime) -> TaskEvent:
    return TaskEvent.model_construct(
        occurred_at=now, task=_task(item, TaskStatus.failed, now, "waited past the policy; not run"),
        lane=lane, duration_seconds=None, error_code=TaskErrorCode.queue_overloaded)


_HOST_IDLE = HostPressure(load1=0.0, cpu_cores=8, artifact_write_ms=None, gpu_sessions_in_use=0)
_HOST_BUSY = HostPressure(load1=0.0, cpu_cores=8, artifact_write_ms=None, gpu_sessions_in_use=1)


def heartbeat(lane: RouteLane, slot: int, busy: bool, now: datetime) -> LaneEvent:
    """A healthy, warm worker's heartbeat; `gpu_sessions_in_use` follows its job like the real one."""
    return LaneEvent.model_construct(
        event_type=LaneEventType.heartbeat, lane_key=lane, worker_id=f"sim-{lane.value}-{slot}",
        availability=Availability.ready, warm=True, served_model=None,
        host=_HOST_BUSY if busy else _HOST_IDLE, gpu_sessions_quota_exhausted=False, occurred_at=now,
    )
