"""One task-status rule and one task-event builder, used by admission and the lane workers."""

from __future__ import annotations

import re
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

import gpu_consumers.task_fold
import streams.admission.core.folds
from gpu_consumers import task_events as worker_events
from schemas.enums import RouteLane, TaskErrorCode, TaskStatus
from schemas.limits import MAX_TEXT_CHARS
from schemas.task_events import task_event
from schemas.tasks import TERMINAL, TRANSITIONS, may_follow, repeats
from streams.admission import events as admission_events
from tests.factories import T0
from tests.sources import module_source

statuses = st.sampled_from(list(TaskStatus))


@given(statuses, statuses)
def test_a_repeat_is_never_a_move_and_nothing_follows_an_end(current: TaskStatus, new: TaskStatus) -> None:
    assert not (repeats(current, new) and may_follow(current, new))
    if current in TERMINAL:
        assert not may_follow(current, new)


def test_both_folds_ask_the_one_rule() -> None:
    for module in (gpu_consumers.task_fold, streams.admission.core.folds):
        source = module_source(module)
        assert "may_follow(" in source and not re.search(r"(?<![A-Z_])TRANSITIONS\[", source), module.__name__
    assert may_follow(TaskStatus.processing, TaskStatus.pending)  # the crash redelivery
    assert TRANSITIONS[TaskStatus.done] == frozenset()


def test_every_side_cuts_a_long_message_to_the_contract() -> None:
    long = "x" * (MAX_TEXT_CHARS * 2)
    admission = admission_events.task_event(
        "t-1", "phr00t", "video", T0, T0, TaskStatus.failed, "p0o1", error_msg=long,
        error_code=TaskErrorCode.admission_rejected,
    )
    worker = worker_events.failed_unparseable("t-1", RouteLane.phr00t, "w-1", T0, long)
    for event in (admission, worker):
        assert event.task.error_msg is not None and len(event.task.error_msg) == MAX_TEXT_CHARS


def test_a_skewed_creation_time_never_comes_after_the_update() -> None:
    event = task_event("t-1", "phr00t", "video", TaskStatus.pending, T0 + timedelta(hours=1), T0)
    assert event.task.created_at == event.task.updated_at == T0


def test_a_derived_id_is_kept_and_replays_give_the_same_one() -> None:
    one = admission_events.task_event("t-1", "phr00t", "video", T0, T0, TaskStatus.pending, "p0o1")
    two = admission_events.task_event("t-1", "phr00t", "video", T0, T0, TaskStatus.pending, "p0o1")
    assert one.event_id == two.event_id
    assert task_event("t-1", "phr00t", "video", TaskStatus.pending, T0, T0).event_id != one.event_id
