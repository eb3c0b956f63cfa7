"""Contract priority: critical needs an authorised producer and is never degraded; background is
throttled first; which item a higher class may preempt is the queue's call (`LaneQueue.victim_for`)."""

from __future__ import annotations

from schemas.enums import Priority


def authorised(priority: Priority, producer: str | None, critical_producers: frozenset[str]) -> bool:
    if priority is not Priority.critical:
        return True
    return producer is not None and producer in critical_producers


def may_degrade(priority: Priority) -> bool:
    return priority is not Priority.critical


def throttled_first(priority: Priority) -> bool:
    """Background work yields to the rest: it is refused as soon as part of a lane is under
    pressure, while other classes still take the workers that pass every check."""
    return priority is Priority.background
