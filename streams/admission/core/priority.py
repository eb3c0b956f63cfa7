"""Contract priority: critical needs an authorised producer and is never degraded; background is
throttled first; which item a higher class may preempt is the queue's call (`LaneQueue.victim_for`)."""

from __future__ import annotations

from schemas.enums import Priority

_CRITICAL = Priority.critical
_BACKGROUND = Priority.background


def authorised(priority: Priority, producer: str | None, critical_producers: frozenset[str]) -> bool:
    if priority is not _CRITICAL:
        return True
    return producer is not None and producer in critical_producers


def may_degrade(priority: Priority) -> bool:
    return priority is not _CRITICAL


def throttled_first(priority: Priority) -> bool:
    """Background work yields to the rest: it is refused as soon as part of a lane is under
    pressure, while other classes still take the workers that pass every check."""
    return priority is _BACKGROUND
