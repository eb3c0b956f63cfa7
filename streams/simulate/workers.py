"""Simulated lane workers: one job at a time each, FIFO over their lane's accepted jobs.

Like the real worker, a job that waited in a degraded queue past the policy's wait is dropped
unstarted (a `failed` task event with `queue_overloaded`), and a job admission preempted is
skipped. Workers of one lane share one FIFO (a consumer group spreading one topic's partitions
over its members is modelled as one queue served by all of them). A free worker is the lowest
numbered one, as a scan of the slots would find it.

The workers' task events and heartbeats go through the admission core's own folds
(`fold_task_event`, `fold_lane_event`). A simulated day makes millions of them, so they are not
pydantic models but slotted stand-ins carrying exactly the fields those folds read (every value
comes from a decision the core validated), and none is built per event: a `Job` is its own
task event, its status moved on before each fold, and each simulated worker has one heartbeat
whose time and load are set before each fold (the folds copy what they keep, never the event).
tests/unit/simulate/test_worker_events.py checks that each folds to the same state as the wire
event it stands for.
"""

from __future__ import annotations

import heapq
from collections import deque
from datetime import UTC, datetime
from typing import cast

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


class _Task:
    """What `fold_task_event` reads of a `GenerationTask`."""

    __slots__ = ("id", "model", "status")

    def __init__(self, task_id: str, model: str) -> None:
        self.id = task_id
        self.model = model
        self.status = TaskStatus.pending


class Job:
    """One accepted job on its way through a lane's workers, and the task event they send about it
    (what `fold_task_event` reads of a `TaskEvent`, as of its latest status)."""

    __slots__ = (
        "at",
        "duration_seconds",
        "enqueued",
        "error_code",
        "lane",
        "mode",
        "service_s",
        "slot",
        "task",
        "task_id",
    )

    pipeline_seconds: float | None = None
    event_id = "simulated"

    def __init__(self, task_id: str, model: str, lane: RouteLane, enqueued: float, mode: LaneMode,
                 service_s: float) -> None:
        self.task_id = task_id
        self.task = _Task(task_id, model)
        self.lane = lane
        self.enqueued = enqueued
        self.mode = mode
        self.service_s = service_s
        #: The worker running it (-1: none yet).
        self.slot = -1
        #: Epoch seconds of its latest event.
        self.at = enqueued
        self.duration_seconds: float | None = None
        self.error_code: TaskErrorCode | None = None

    @property
    def occurred_at(self) -> datetime:
        # Read by the fold only for a task it no longer remembers (decided before the dedup window).
        return datetime.fromtimestamp(self.at, UTC)


def started_event(job: Job, ts: float) -> TaskEvent:
    job.task.status = TaskStatus.processing
    job.at = ts
    return cast(TaskEvent, job)


def done_event(job: Job, ts: float) -> TaskEvent:
    job.task.status = TaskStatus.done
    job.at = ts
    job.duration_seconds = job.service_s
    return cast(TaskEvent, job)


def expired_event(job: Job, ts: float) -> TaskEvent:
    job.task.status = TaskStatus.failed
    job.at = ts
    job.error_code = TaskErrorCode.queue_overloaded
    return cast(TaskEvent, job)


_HOST_IDLE = HostPressure(load1=0.0, cpu_cores=8, artifact_write_ms=None, gpu_sessions_in_use=0)
_HOST_BUSY = HostPressure(load1=0.0, cpu_cores=8, artifact_write_ms=None, gpu_sessions_in_use=1)


class WorkerBeat:
    """What `fold_lane_event` reads of a heartbeat `LaneEvent`: a healthy, warm worker's."""

    __slots__ = ("host", "lane_key", "occurred_at", "worker_id")

    event_type = LaneEventType.heartbeat
    availability = Availability.ready
    warm = True
    served_model: ModelName | None = None
    gpu_sessions_quota_exhausted: bool | None = None

    def __init__(self, lane: RouteLane, slot: int) -> None:
        self.lane_key = lane
        self.worker_id = f"sim-{lane.value}-{slot}"
        self.host = _HOST_IDLE
        self.occurred_at: datetime | None = None


def heartbeat(beat: WorkerBeat, busy: bool, now: datetime) -> LaneEvent:
    """The worker's heartbeat at `now`; `gpu_sessions_in_use` follows its job like the real one."""
    beat.host = _HOST_BUSY if busy else _HOST_IDLE
    beat.occurred_at = now
    return cast(LaneEvent, beat)


class LaneWorkers:
    """One lane's simulated workers (slots 0 .. capacity-1) and their FIFO of accepted jobs."""

    __slots__ = ("beats", "busy", "capacity", "fifo", "free", "lane", "name")

    def __init__(self, lane: RouteLane, capacity: int) -> None:
        self.lane = lane
        self.name = lane.value
        self.capacity = 0
        self.busy: set[int] = set()
        #: Idle slots below `capacity`, lowest first (a heap).
        self.free: list[int] = []
        self.fifo: deque[Job] = deque()
        self.beats: list[WorkerBeat] = []
        self.resize(capacity)

    def resize(self, capacity: int) -> None:
        """Workers that may take work now (the scenario's GPU windows change it); a busy worker
        past the new capacity finishes its job and then leaves."""
        self.capacity = capacity
        busy = self.busy
        self.free = [slot for slot in range(capacity) if slot not in busy]
        while len(self.beats) < capacity:
            self.beats.append(WorkerBeat(self.lane, len(self.beats)))

    def take(self) -> int:
        """The lowest idle slot, now busy (call only while `free`)."""
        slot = heapq.heappop(self.free)
        self.busy.add(slot)
        return slot

    def release(self, slot: int) -> None:
        self.busy.discard(slot)
        if slot < self.capacity:
            heapq.heappush(self.free, slot)
