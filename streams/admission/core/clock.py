"""How the core compares instants: epoch-second floats, exact to the microsecond.

Record times reach the core as epoch seconds of whole microseconds (a Kafka timestamp is whole
milliseconds; the edge converts every `datetime` with `.timestamp()`). Such a float is the
nearest double to its exact value, so the plain difference of two of them can be off by a few
tenths of a microsecond. A rule that compares a wait with its limit (30 s in the queue, 15 s
since a heartbeat) must not flip on that error, so it compares against the limit plus half a
microsecond: more than the float error, less than the step between two instants. Limits are
whole microseconds (every setting and policy number is).

The two hottest comparisons (the queue's expiry bound and the withdrawal memo's end) write the
same expression inline rather than call `longer_than`.
"""

from __future__ import annotations

#: Half a microsecond (see the module docstring).
HALF_US = 5e-7


def longer_than(later: float, earlier: float, limit: float) -> bool:
    """More than `limit` seconds passed from `earlier` to `later`."""
    return later - earlier > limit + HALF_US
