"""One lane's queue of accepted, not yet started items: a queue object that owns its policy.

It adds, removes and expires items, and answers whether a new item of a given priority may join
(`admit`): by depth, with the newest `background` item as the victim a higher class may push out,
and by expected wait. The numbers come from the `QueueLimits` it is given (the seed's 25 / 30 s /
`queue_overloaded`); routing decides when the policy applies (degraded mode only).

Expected wait of a new item = items ahead x observed service time / serving workers: the lane
runs one job per worker, FIFO, so the item starts once the items ahead have been served by the
workers in parallel.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from schemas.enums import ModelName, Priority
from streams.admission.core.clock import HALF_US, longer_than
from streams.admission.core.config import CONTRACT_QUEUE, QueueLimits
from streams.admission.core.refusal import Refusal

_BACKGROUND = Priority.background


@dataclass(slots=True, init=False)  # a written __init__ compiles (streams/compiled.py)
class QueuedItem:
    task_id: str
    priority: Priority
    enqueued_at: float
    model: ModelName | None
    #: The request's `type` and `submitted_at`, for the task event of a preemption.
    task_type: str = "unknown"
    submitted_at: float | None = None

    def __init__(self, task_id: str, priority: Priority, enqueued_at: float,
                 model: ModelName | None, task_type: str = "unknown",
                 submitted_at: float | None = None) -> None:
        self.task_id = task_id
        self.priority = priority
        self.enqueued_at = enqueued_at
        self.model = model
        self.task_type = task_type
        self.submitted_at = submitted_at


@dataclass(slots=True, init=False)  # a written __init__ compiles (streams/compiled.py)
class QueueAdmit:
    depth_ahead: int
    wait_s: float
    victim: QueuedItem | None = None

    def __init__(self, depth_ahead: int, wait_s: float, victim: QueuedItem | None = None) -> None:
        self.depth_ahead = depth_ahead
        self.wait_s = wait_s
        self.victim = victim


def expected_wait(depth: int, service_s: float, workers: int) -> float:
    return depth * service_s / max(1, workers)


@dataclass(slots=True)
class LaneQueue:
    """Accepted items of one lane not yet started/finished/expired, in acceptance order."""

    items: dict[str, QueuedItem] = field(default_factory=dict)
    service_times: deque[float] = field(default_factory=lambda: deque(maxlen=20))
    policy: QueueLimits = CONTRACT_QUEUE
    #: At most the earliest `enqueued_at` of `items` (None: empty): while the policy's wait has
    #: not passed since it, nothing has expired and the sweep skips its scan.
    oldest_at: float | None = field(default=None, compare=False)

    @property
    def depth(self) -> int:
        return len(self.items)

    def add(self, item: QueuedItem) -> None:
        self.items[item.task_id] = item
        if self.oldest_at is None or item.enqueued_at < self.oldest_at:
            self.oldest_at = item.enqueued_at

    def remove(self, task_id: str) -> bool:
        if self.items.pop(task_id, None) is None:
            return False
        if not self.items:
            self.oldest_at = None
        return True

    def expired(self, now: float) -> tuple[QueuedItem, ...]:
        """Items that waited longer than the policy allows at `now`."""
        limit = self.policy.max_wait_s
        oldest = self.oldest_at
        if oldest is None or now - oldest <= limit + HALF_US:  # not `longer_than`, inline
            return ()
        found = tuple(i for i in self.items.values() if longer_than(now, i.enqueued_at, limit))
        if not found:  # the earliest one left already: tighten the bound
            self.oldest_at = min(i.enqueued_at for i in self.items.values())
        return found

    def victim_for(self, priority: Priority) -> QueuedItem | None:
        """The newest queued `background` item, if `priority` outranks it."""
        if priority.rank >= _BACKGROUND.rank:
            return None
        for item in reversed(self.items.values()):
            if item.priority is _BACKGROUND:
                return item
        return None

    def without(self, task_ids: set[str]) -> LaneQueue:
        """A copy lacking `task_ids` (`decide` never changes the state it reads)."""
        kept = {k: v for k, v in self.items.items() if k not in task_ids}
        oldest = min((i.enqueued_at for i in kept.values()), default=None)
        return LaneQueue(items=kept, service_times=self.service_times, policy=self.policy,
                         oldest_at=oldest)

    def admit(self, priority: Priority, service_s: float, workers: int) -> QueueAdmit | Refusal:
        """May an item of `priority` join, given the observed service time and serving workers?"""
        policy, depth = self.policy, len(self.items)
        code = policy.overflow_code
        victim = None
        if depth >= policy.max_depth:
            victim = self.victim_for(priority)
            if victim is None:
                return Refusal(
                    code,
                    "Queue overloaded",
                    f"shared lane queue holds {depth} items (max {policy.max_depth})",
                    reason="depth",
                    value=float(depth),
                    value_unit="queue_depth",
                )
        ahead = depth - (1 if victim else 0)
        wait = expected_wait(ahead, service_s, workers)
        if service_s > 0 and wait > policy.max_wait_s:
            return Refusal(
                code,
                "Queue overloaded",
                f"expected wait {wait:.1f}s exceeds {policy.max_wait_s:g}s "
                f"({ahead} ahead x {service_s:.2f}s / {max(1, workers)} workers)",
                reason="wait",
                value=round(wait, 3),
                value_unit="wait_seconds",
            )
        return QueueAdmit(depth_ahead=ahead, wait_s=wait, victim=victim)
