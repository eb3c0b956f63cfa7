"""The task ledger's fold: legal histories apply, illegal events are refused, finished stays finished."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gpu_consumers.task_fold import Refused, TaskFold
from schemas.enums import RouteLane, TaskErrorCode, TaskStatus
from schemas.envelope import utc_now
from schemas.tasks import TERMINAL, TRANSITIONS, GenerationTask, TaskEvent


def event(task_id: str, status: TaskStatus, lane: RouteLane | None = RouteLane.phr00t) -> TaskEvent:
    now = utc_now()
    return TaskEvent(
        task=GenerationTask(
            id=task_id, model="phr00t", type="text_to_video", status=status, created_at=now, updated_at=now,
            error_msg="x" if status is TaskStatus.failed else None,
        ),
        lane=lane,
        artifact_path="/tmp/a.mp4" if status is TaskStatus.done else None,
        error_code=TaskErrorCode.pipeline_error if status is TaskStatus.failed else None,
    )


def test_a_crash_redelivery_history_is_legal_and_counts_both_starts() -> None:
    fold = TaskFold()
    for status in (TaskStatus.pending, TaskStatus.processing, TaskStatus.pending, TaskStatus.processing,
                   TaskStatus.done):
        assert fold.fold(event("a", status)) is None
    assert fold.starts("a") == 2 and fold.ended("a") and fold.invalid == 0


def test_illegal_events_are_refused_and_never_reopen_a_finished_task() -> None:
    fold = TaskFold()
    fold.fold(event("a", TaskStatus.processing))
    fold.fold(event("a", TaskStatus.failed))
    assert fold.fold(event("a", TaskStatus.processing)) == Refused("a", TaskStatus.failed, TaskStatus.processing)
    assert fold.fold(event("a", TaskStatus.done)) == Refused("a", TaskStatus.failed, TaskStatus.done)
    assert fold.status["a"] is TaskStatus.failed and fold.starts("a") == 1 and fold.invalid == 2
    # A task rejected at admission (pending -> failed, no lane) has ended as well.
    fold.fold(event("r", TaskStatus.pending, lane=None))
    fold.fold(event("r", TaskStatus.failed, lane=None))
    assert fold.ended("r")


def test_a_task_first_seen_mid_life_starts_from_that_event() -> None:
    fold = TaskFold()  # the bounded window began after this task's pending/processing
    assert fold.fold(event("old", TaskStatus.done)) is None
    assert fold.ended("old") and fold.invalid == 0


statuses = st.sampled_from(list(TaskStatus))


@given(st.lists(st.tuples(st.sampled_from(["a", "b"]), statuses), max_size=40))
def test_any_sequence_folds_to_legal_moves_only(steps: list[tuple[str, TaskStatus]]) -> None:
    fold = TaskFold()
    refused = 0
    for task_id, status in steps:
        before = fold.status.get(task_id)
        result = fold.fold(event(task_id, status))
        legal = before is None or status in TRANSITIONS[before]
        assert (result is None) is legal
        refused += result is not None
        assert fold.status[task_id] is (status if legal else before)
        if before in TERMINAL:
            assert fold.status[task_id] is before  # finished stays finished
    assert fold.invalid == refused
