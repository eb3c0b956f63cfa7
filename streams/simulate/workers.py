"""Simulated lane workers: one job at a time each, FIFO over their lane's accepted jobs.

Like the real worker, a job that waited in a degraded queue past the policy's wait is dropped
unstarted (a `failed` task event with `queue_overloaded`), and a job admission preempted is
skipped. Workers of one lane share one FIFO (a consumer group spreading one topic's partitions
over its members is modelled as one queue served by all of them). A free worker is the lowest
numbered one, as a scan of the slots would find it.

What the workers report goes to the admission core as the facts the agent's edge reads out of
the real workers' task events and heartbeats (tests/unit/simulate/test_worker_events.py checks
that each equals the facts of the wire event it stands for).
"""

from __future__ import annotations

import heapq
from collections import deque

from schemas import Availability, LaneMode, RouteLane, TaskStatus
from streams.admission.core.facts import HeartbeatFacts, TaskFacts

_PROCESSING, _DONE, _FAILED = TaskStatus.processing, TaskStatus.done, TaskStatus.failed
_READY = Availability.ready


class Job:
    """One accepted job on its way through a lane's workers."""

    __slots__ = ("enqueued", "lane", "mode", "model", "service_s", "slot", "task_id")

    def __init__(self, task_id: str, model: str, lane: RouteLane, enqueued: float, mode: LaneMode,
                 service_s: float) -> None:
        self.task_id = task_id
        self.model = model
        self.lane = lane
        self.enqueued = enqueued
        self.mode = mode
        self.service_s = service_s
        #: The worker running it (-1: none yet).
        self.slot = -1


def started_event(job: Job, ts: float) -> TaskFacts:
    return TaskFacts(job.task_id, _PROCESSING, job.lane, job.model, None, ts)


def done_event(job: Job, ts: float) -> TaskFacts:
    return TaskFacts(job.task_id, _DONE, job.lane, job.model, job.service_s, ts)


def expired_event(job: Job, ts: float) -> TaskFacts:
    """The worker drops the job unstarted (`queue_overloaded`): the task fails."""
    return TaskFacts(job.task_id, _FAILED, job.lane, job.model, None, ts)


def heartbeat(lane: RouteLane, worker_id: str, busy: bool, at: float) -> HeartbeatFacts:
    """A healthy, warm worker's heartbeat at `at`; `gpu_sessions_in_use` follows its job like the
    real one's (one GPU session, taken while a job runs)."""
    return HeartbeatFacts(lane, worker_id, _READY, True, None, 0.0, 8, None, 1 if busy else 0, 1, True,
                          False, at)


class LaneWorkers:
    """One lane's simulated workers (slots 0 .. capacity-1) and their FIFO of accepted jobs."""

    __slots__ = ("busy", "capacity", "fifo", "free", "ids", "lane", "name")

    def __init__(self, lane: RouteLane, capacity: int) -> None:
        self.lane = lane
        self.name = lane.value
        self.capacity = 0
        self.busy: set[int] = set()
        #: Idle slots below `capacity`, lowest first (a heap).
        self.free: list[int] = []
        self.fifo: deque[Job] = deque()
        #: Worker id per slot.
        self.ids: list[str] = []
        self.resize(capacity)

    def resize(self, capacity: int) -> None:
        """Workers that may take work now (the scenario's GPU windows change it); a busy worker
        past the new capacity finishes its job and then leaves."""
        self.capacity = capacity
        busy = self.busy
        self.free = [slot for slot in range(capacity) if slot not in busy]
        while len(self.ids) < capacity:
            self.ids.append(f"sim-{self.name}-{len(self.ids)}")

    def take(self) -> int:
        """The lowest idle slot, now busy (call only while `free`)."""
        slot = heapq.heappop(self.free)
        self.busy.add(slot)
        return slot

    def release(self, slot: int) -> None:
        self.busy.discard(slot)
        if slot < self.capacity:
            heapq.heappush(self.free, slot)
