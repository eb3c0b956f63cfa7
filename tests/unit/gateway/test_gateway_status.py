"""The status fold: decisions and task events in any arrival order give a sane current status."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from schemas import ModelName
from schemas.enums import DecisionOutcome, RejectionCode, RouteLane, TaskStatus
from streams.gateway.status import StatusBook
from tests import factories


def _events_for(task_id: str) -> list[object]:
    req = factories.request(ModelName.phr00t, task_id=task_id)
    pending = factories.task_event(
        TaskStatus.pending, task=factories.task(TaskStatus.pending, id=task_id)
    )
    processing = factories.task_event(
        TaskStatus.processing, task=factories.task(TaskStatus.processing, id=task_id)
    )
    done = factories.task_event(TaskStatus.done, task=factories.task(TaskStatus.done, id=task_id))
    return [factories.accepted(req), pending, processing, done]


def test_accepted_then_events_ends_done() -> None:
    book = StatusBook(10)
    for item in _events_for("t-1"):
        if hasattr(item, "outcome"):
            book.apply_decision(item)  # type: ignore[arg-type]
        else:
            book.apply_task_event(item)  # type: ignore[arg-type]
    view = book.get("t-1")
    assert view is not None
    assert view.status is TaskStatus.done and view.decision is DecisionOutcome.accepted
    assert view.lane is RouteLane.phr00t and view.artifact_path


@given(st.integers(min_value=0, max_value=3), st.integers(min_value=0, max_value=2))
def test_decision_anywhere_among_ordered_events_ends_done(position: int, redelivered: int) -> None:
    """events.task is one ordered partition; the decision comes on another topic, at any time,
    and a redelivered event (at-least-once) may repeat: the task still ends done."""
    decision, *events = _events_for("t-2")
    events = [*events[: redelivered + 1], events[redelivered], *events[redelivered + 1 :]]
    sequence = [*events[:position], decision, *events[position:]]
    book = StatusBook(10)
    for item in sequence:
        if hasattr(item, "outcome"):
            book.apply_decision(item)  # type: ignore[arg-type]
        else:
            book.apply_task_event(item)  # type: ignore[arg-type]
    view = book.get("t-2")
    assert view is not None
    assert view.status is TaskStatus.done and view.decision is DecisionOutcome.accepted


def test_rejection_is_failed_with_its_code() -> None:
    book = StatusBook(10)
    decision = factories.rejected(RejectionCode.queue_overloaded, task_id="t-3")
    book.apply_decision(decision)
    view = book.get("t-3")
    assert view is not None and view.status is TaskStatus.failed
    assert view.error_code == "queue_overloaded" and view.decision is DecisionOutcome.rejected


def test_book_is_bounded_lru() -> None:
    book = StatusBook(3)
    for i in range(5):
        book.apply_decision(factories.rejected(task_id=f"t-{i}"))
    assert len(book) == 3
    assert book.get("t-0") is None and book.get("t-4") is not None
