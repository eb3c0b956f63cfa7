"""Queue policy of degraded shared mode (`DegradedQueuePolicy`: depth 25, wait 30 s).

Expected wait of a new item = items ahead x observed service time / serving workers: the lane
runs one job per worker, FIFO, so the item starts once the `depth` items ahead have been served
by `workers` workers in parallel. Service time is the mean `duration_seconds` of the lane's
recent `done` events, else of the model's recent `done` events on any lane, else the configured
default (0 means unknown and disables the wait check): see `AdmissionState.service_seconds`.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas import DEGRADED_QUEUE_POLICY, DegradedQueuePolicy, Priority, RejectionCode
from streams.admission.priority import preemption_victim
from streams.admission.refusal import Refusal
from streams.admission.state import LaneQueue, QueuedItem


def expected_wait(depth: int, service_s: float, workers: int) -> float:
    return depth * service_s / max(1, workers)


@dataclass(frozen=True)
class QueueAdmit:
    depth_ahead: int
    wait_s: float
    victim: QueuedItem | None = None


def check_queue(
    queue: LaneQueue,
    priority: Priority,
    service_s: float,
    workers: int,
    policy: DegradedQueuePolicy = DEGRADED_QUEUE_POLICY,
) -> QueueAdmit | Refusal:
    depth = queue.depth
    victim = None
    if depth >= policy.max_depth:
        victim = preemption_victim(queue, priority)
        if victim is None:
            return Refusal(
                RejectionCode(policy.overflow_code),
                "Queue overloaded",
                f"shared lane queue holds {depth} items (max {policy.max_depth})",
                reason="depth",
                value=float(depth),
                value_unit="queue_depth",
            )
    ahead = depth - (1 if victim else 0)
    wait = expected_wait(ahead, service_s, workers)
    if service_s > 0 and wait > policy.max_wait_seconds:
        return Refusal(
            RejectionCode(policy.overflow_code),
            "Queue overloaded",
            f"expected wait {wait:.1f}s exceeds {policy.max_wait_seconds}s "
            f"({ahead} ahead x {service_s:.2f}s / {max(1, workers)} workers)",
            reason="wait",
            value=round(wait, 3),
            value_unit="wait_seconds",
        )
    return QueueAdmit(depth_ahead=ahead, wait_s=wait, victim=victim)
