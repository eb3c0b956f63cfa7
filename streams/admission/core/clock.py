"""How the core compares instants: epoch-second floats, exact to the microsecond.

Record times reach the core as epoch seconds of whole microseconds (a Kafka timestamp is whole
milliseconds; the edge converts every `datetime` with `.timestamp()`). Such a float is the
nearest double to its exact value, so the plain difference of two of them can be off by a few
tenths of a microsecond; rounding it to the microsecond gives the exact difference back. A rule
that compares a wait with its limit (30 s in the queue, 15 s since a heartbeat) must not flip on
that error, so every such comparison goes through `elapsed`.
"""

from __future__ import annotations


def elapsed(later: float, earlier: float) -> float:
    """Seconds from `earlier` to `later`, exact to the microsecond."""
    return round(later - earlier, 6)
