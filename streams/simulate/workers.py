"""Simulated lane workers: one job at a time each, FIFO over their lane's accepted items.

Like the real worker, an item that waited in a degraded queue past the policy's wait is dropped
unstarted (a `failed` task event with `queue_overloaded`), and an item admission preempted is
skipped. Workers of one lane share one FIFO (a consumer group spreading one topic's partitions
over its members is modelled as one queue served by all of them).

The workers' task events and heartbeats go through the admission core's own folds
(`fold_task_event`, `fold_lane_event`). A simulated day makes millions of them, so they are not
pydantic models but slotted stand-ins carrying exactly the fields those folds read (every value
comes from a decision the core validated); tests/unit/simulate/test_worker_events.py checks that
each folds to the same state as the wire event it stands for.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple, cast

from schemas import (
    Availability,
    HostPressure,
    LaneEvent,
    LaneEventType,
    LaneMode,
    ModelName,
    RouteLane,
    TaskErrorCode,
    TaskEvent,
    TaskStatus,
)


class Item(NamedTuple):
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
        busy = self.busy
        for slot in range(self.capacity):
            if slot not in busy:
                return slot
        return None


@dataclass(slots=True)
class _Task:
    """What `fold_task_event` reads of a `GenerationTask`."""

    id: str
    model: str
    status: TaskStatus


@dataclass(slots=True)
class WorkerTaskEvent:
    """What `fold_task_event` reads of a `TaskEvent` a lane worker sends."""

    task: _Task
    lane: RouteLane
    duration_seconds: float | None = None
    pipeline_seconds: float | None = None
    error_code: TaskErrorCode | None = None
    event_id: str = "simulated"

    @property
    def task_id(self) -> str:
        return self.task.id


def _event(item: Item, lane: RouteLane, status: TaskStatus, seconds: float | None = None,
           error_code: TaskErrorCode | None = None) -> TaskEvent:
    event = WorkerTaskEvent(_Task(item.task_id, item.model, status), lane, seconds, error_code=error_code)
    return cast(TaskEvent, event)


def started_event(item: Item, lane: RouteLane) -> TaskEvent:
    return _event(item, lane, TaskStatus.processing)


def done_event(item: Item, lane: RouteLane) -> TaskEvent:
    return _event(item, lane, TaskStatus.done, item.service_s)


def expired_event(item: Item, lane: RouteLane) -> TaskEvent:
    return _event(item, lane, TaskStatus.failed, error_code=TaskErrorCode.queue_overloaded)


_HOST_IDLE = HostPressure(load1=0.0, cpu_cores=8, artifact_write_ms=None, gpu_sessions_in_use=0)
_HOST_BUSY = HostPressure(load1=0.0, cpu_cores=8, artifact_write_ms=None, gpu_sessions_in_use=1)


@dataclass(slots=True)
class WorkerBeat:
    """What `fold_lane_event` reads of a heartbeat `LaneEvent`: a healthy, warm worker's."""

    lane_key: RouteLane
    worker_id: str
    host: HostPressure
    occurred_at: datetime
    event_type: LaneEventType = LaneEventType.heartbeat
    availability: Availability = Availability.ready
    warm: bool = True
    served_model: ModelName | None = None
    gpu_sessions_quota_exhausted: bool | None = None


_WORKER_IDS: dict[tuple[RouteLane, int], str] = {}


def heartbeat(lane: RouteLane, slot: int, busy: bool, now: datetime) -> LaneEvent:
    """A healthy, warm worker's heartbeat; `gpu_sessions_in_use` follows its job like the real one."""
    worker = _WORKER_IDS.get((lane, slot))
    if worker is None:
        worker = _WORKER_IDS[(lane, slot)] = f"sim-{lane.value}-{slot}"
    return cast(LaneEvent, WorkerBeat(lane, worker, _HOST_BUSY if busy else _HOST_IDLE, now))
