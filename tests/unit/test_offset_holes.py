"""`HoleGuard`: a record past the next expected offset sends the consumer back, a bounded number of times."""

from __future__ import annotations

from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from schemas.offset_holes import HOLE_REREADS, HoleGuard

TP = ("events.task", 0)


def test_records_in_order_and_repeats_are_taken() -> None:
    guard = HoleGuard()
    assert guard.check(TP, None, 7) is None  # nothing known yet: nothing to compare with
    assert guard.check(TP, 7, 7) is None
    assert guard.check(TP, 8, 3) is None  # a redelivered record, behind the position
    assert guard.rereads == {}


def test_a_hole_is_read_again_from_its_first_offset_then_taken_after_the_last_try() -> None:
    guard = HoleGuard()
    for _ in range(HOLE_REREADS):
        assert guard.check(TP, 10, 12) == 10
    assert guard.check(TP, 10, 12) is None  # never delivered: go on rather than stall
    assert guard.rereads == {}
    assert guard.check(TP, 10, 12) == 10  # a later hole at the same place counts afresh


def test_the_hole_filled_ends_the_rereads_and_a_new_hole_counts_from_zero() -> None:
    guard = HoleGuard(tries=2)
    assert guard.check(TP, 10, 12) == 10
    assert guard.check(TP, 10, 10) is None  # the missing record came
    assert guard.rereads == {}
    assert guard.check(TP, 20, 25) == 20
    assert guard.check(TP, 21, 25) == 21  # another hole: its own tries
    assert guard.check(TP, 21, 25) == 21
    assert guard.check(TP, 21, 25) is None


def test_partitions_are_apart() -> None:
    guard = HoleGuard(tries=1)
    other = ("events.task", 1)
    assert guard.check(TP, 5, 6) == 5
    assert guard.check(other, 5, 6) == 5
    assert guard.check(TP, 5, 6) is None
    assert guard.check(other, 5, 6) is None


@given(st.lists(st.integers(min_value=0, max_value=40), max_size=200), st.integers(min_value=1, max_value=5))
def test_a_consumer_following_the_guard_never_takes_a_record_past_a_hole_it_has_not_tried_enough(
        fetched: list[int], tries: int) -> None:
    guard = HoleGuard(tries=tries)
    expected: int | None = None
    reads: dict[int, int] = {}
    for offset in fetched:
        hole = guard.check(TP, expected, offset)
        if hole is not None:
            reads[hole] = reads.get(hole, 0) + 1
            assert reads[hole] <= tries
            continue  # the consumer seeks back to `hole`; `expected` stays
        if expected is not None and offset > expected:
            assert reads.get(expected, 0) == tries  # taken past a hole only after every try
        if expected is not None:
            reads.pop(expected, None)
        expected = offset + 1 if expected is None else max(expected, offset + 1)


def test_take_keeps_a_fetch_up_to_its_first_hole() -> None:
    records = [SimpleNamespace(offset=o) for o in (4, 5, 7, 8)]
    guard = HoleGuard()
    kept, hole = guard.take(TP, 4, records)
    assert [r.offset for r in kept] == [4, 5] and hole == 6
    kept, hole = guard.take(TP, 6, records[2:])  # still missing: read again, nothing taken
    assert list(kept) == [] and hole == 6
    kept, hole = HoleGuard().take(TP, None, records[2:])  # nothing known yet: all taken
    assert [r.offset for r in kept] == [7, 8] and hole is None
