"""The task ledger's fold: legal histories apply, illegal events are refused, finished stays finished."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gpu_consumers.task_fold import Refused, TaskFold
from schemas.enums import TaskStatus
from schemas.tasks import TERMINAL, TRANSITIONS
from tests.factories import task_event


def test_a_crash_redelivery_history_is_legal_and_counts_both_starts() -> None:
    fold = TaskFold()
    for status in (TaskStatus.pending, TaskStatus.processing, TaskStatus.pending, TaskStatus.processing,
                   TaskStatus.done):
        assert fold.fold(task_event(status, "a")) is None
    assert fold.starts("a") == 2 and fold.ended("a") and fold.invalid == 0


def test_illegal_events_are_refused_and_never_reopen_a_finished_task() -> None:
    fold = TaskFold()
    fold.fold(task_event(TaskStatus.processing, "a"))
    fold.fold(task_event(TaskStatus.failed, "a"))
    assert fold.fold(task_event(TaskStatus.processing, "a")) == Refused("a", TaskStatus.failed, TaskStatus.processing)
    assert fold.fold(task_event(TaskStatus.done, "a")) == Refused("a", TaskStatus.failed, TaskStatus.done)
    assert fold.status["a"] is TaskStatus.failed and fold.starts("a") == 1 and fold.invalid == 2
    # A task rejected at admission (pending -> failed, no lane) has ended as well.
    fold.fold(task_event(TaskStatus.pending, "r", lane=None))
    fold.fold(task_event(TaskStatus.failed, "r", lane=None))
    assert fold.ended("r")


def test_a_task_first_seen_mid_life_starts_from_that_event() -> None:
    fold = TaskFold()  # the bounded window began after this task's pending/processing
    assert fold.fold(task_event(TaskStatus.done, "old")) is None
    assert fold.ended("old") and fold.invalid == 0


statuses = st.sampled_from(list(TaskStatus))


@given(st.lists(st.tuples(st.sampled_from(["a", "b"]), statuses), max_size=40))
def test_any_sequence_folds_to_legal_moves_only(steps: list[tuple[str, TaskStatus]]) -> None:
    fold = TaskFold()
    refused = 0
    for task_id, status in steps:
        before = fold.status.get(task_id)
        result = fold.fold(task_event(status, task_id))
        legal = before is None or status in TRANSITIONS[before]
        assert (result is None) is legal
        refused += result is not None
        assert fold.status[task_id] is (status if legal else before)
        if before in TERMINAL:
            assert fold.status[task_id] is before  # finished stays finished
    assert fold.invalid == refused
