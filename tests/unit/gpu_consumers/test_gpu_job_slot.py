"""The job slot (loop -> job thread hand-off) and the split of the time between pipelines."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpu_consumers.job_slot import JobSlot
from gpu_consumers.pipeline_gaps import STAGES, PipelineGaps


def test_the_offered_item_goes_to_exactly_one_side_under_contention() -> None:
    for round_ in range(200):
        slot: JobSlot[int] = JobSlot()
        slot.offer(round_)
        got: list[int | None] = []
        barrier = threading.Barrier(2)

        def take(slot: JobSlot[int], got: list[int | None], barrier: threading.Barrier) -> None:
            barrier.wait()
            got.append(slot.take())

        thread = threading.Thread(target=take, args=(slot, got, barrier))
        thread.start()
        barrier.wait()
        withdrawn = slot.withdraw()
        thread.join()
        assert sorted(x for x in (*got, withdrawn) if x is not None) == [round_]


def test_a_refused_item_stays_for_the_loop_and_a_second_offer_is_an_error() -> None:
    slot: JobSlot[str] = JobSlot()
    slot.offer("expired item")
    assert slot.take(lambda _item: False) is None
    with pytest.raises(RuntimeError):
        slot.offer("another")
    assert slot.withdraw() == "expired item"
    assert slot.withdraw() is None


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@given(st.lists(st.tuples(st.sampled_from(STAGES[:-1]), st.floats(0, 5)), max_size=12), st.floats(0, 5))
def test_a_gap_is_split_into_its_marked_stages_and_sums_to_its_length(
    marks: list[tuple[str, float]], rest: float
) -> None:
    clock = FakeClock()
    gaps = PipelineGaps(clock)
    gaps.mark("fetch")  # before any pipeline ended: not a gap
    gaps.pipeline_started()
    clock.now += 7.0
    gaps.mark("fetch")  # while the pipeline runs: off the critical path
    gaps.pipeline_ended()
    expected = dict.fromkeys(STAGES, 0.0)
    for stage, seconds in marks:
        clock.now += seconds
        gaps.mark(stage)
        expected[stage] += seconds
    clock.now += rest
    expected["pre_pipeline"] += rest
    assert gaps.gaps == 0 and gaps.total() == 0.0  # counted once the next pipeline starts
    gaps.pipeline_started()
    assert gaps.gaps == 1
    assert gaps.seconds == pytest.approx(expected)
    assert gaps.total() == pytest.approx(sum(s for _, s in marks) + rest)
    gaps.pipeline_ended()
    clock.now += 1.0
    gaps.mark("fetch")  # the lane went idle after its last job: never counted
    assert gaps.gaps == 1 and gaps.total() == pytest.approx(sum(s for _, s in marks) + rest)
