"""`tasks_current` on chDB folds each task's events defensively: an event illegal by
`schemas.tasks` for the state reached so far is ignored and counted, copies count once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.enums import TaskErrorCode, TaskStatus
from schemas.tasks import TaskEvent, can_transition
from schemas.topics import Topics
from streams.audit import ddl
from streams.audit.migrations import migrate
from streams.audit.rows import TABLE_COLUMNS, Source, routes, to_row
from tests.factories import task_event

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)
TOPICS = Topics()


def _event(task_id: str, status: TaskStatus, second: int, attempt: int = 0,
           code: TaskErrorCode = TaskErrorCode.gpu_oom) -> TaskEvent:
    at = T0 + timedelta(seconds=second)
    return task_event(
        status, task_id, None, model="anisora", at=at, created_at=T0, attempt=attempt,
        error_msg="refused" if status is TaskStatus.failed else None,
        error_code=code if status is TaskStatus.failed else None,
        artifact_path=f"/artifacts/{task_id}-{attempt}.mp4" if status is TaskStatus.done else None,
    )


def _insert(client: Any, db: str, events: list[TaskEvent]) -> None:
    route = routes(TOPICS)
    rows = [to_row(route, Source(TOPICS.events_task, 0, i), e.to_wire(), T0).row for i, e in enumerate(events)]
    client.insert(f"{db}.{ddl.TASK_EVENTS}", rows, column_names=list(TABLE_COLUMNS[ddl.TASK_EVENTS]))


def _current(client: Any, db: str) -> dict[str, dict[str, Any]]:
    result = client.query(f"SELECT * FROM {db}.{ddl.TASKS_CURRENT}")
    return {row[0]: dict(zip(result.column_names, row, strict=True)) for row in result.result_rows}


@pytest.fixture
def db(clickhouse_client: Any, clickhouse_database: str) -> str:
    migrate(clickhouse_client, clickhouse_database, heartbeat_ttl_days=14)
    return clickhouse_database


def test_the_first_legal_path_wins_and_later_illegal_events_are_counted(clickhouse_client: Any, db: str) -> None:
    s, p, f, d = TaskStatus.pending, TaskStatus.processing, TaskStatus.failed, TaskStatus.done
    hijacked = [_event("hijacked", s, 0), _event("hijacked", f, 1, code=TaskErrorCode.admission_rejected),
                _event("hijacked", p, 2, attempt=1), _event("hijacked", d, 3, attempt=1)]
    retried = [_event("retried", s, 0), _event("retried", p, 1, attempt=1), _event("retried", p, 5, attempt=2),
               _event("retried", d, 9, attempt=2)]
    requeued = [_event("requeued", s, 0), _event("requeued", p, 1, attempt=1), _event("requeued", s, 2),
                _event("requeued", p, 3, attempt=2), _event("requeued", d, 4, attempt=2)]
    reopened = [_event("reopened", s, 0), _event("reopened", p, 1, attempt=1), _event("reopened", d, 2, attempt=1),
                _event("reopened", p, 3, attempt=2)]
    headless = [_event("headless", d, 0, attempt=1)]
    _insert(clickhouse_client, db, hijacked + retried + requeued + reopened + headless)
    _insert(clickhouse_client, db, retried)  # a redelivered copy of every event of one task

    current = _current(clickhouse_client, db)
    assert set(current) == {"hijacked", "retried", "requeued", "reopened"}  # no legal first event: left out
    hijack = current["hijacked"]
    assert (hijack["status"], hijack["error_code"], hijack["events"], hijack["ignored_events"]) == (
        "failed", "admission_rejected", 4, 2)
    assert hijack["updated_at"] == (T0 + timedelta(seconds=1)).replace(tzinfo=None) and hijack["attempts"] == 0
    retry = current["retried"]
    assert (retry["status"], retry["attempts"], retry["events"], retry["ignored_events"]) == ("done", 2, 4, 0)
    assert retry["artifact_path"] == "/artifacts/retried-2.mp4"
    assert (current["requeued"]["status"], current["requeued"]["ignored_events"]) == ("done", 0)
    assert (current["reopened"]["status"], current["reopened"]["ignored_events"], current["reopened"]["attempts"]) == (
        "done", 1, 1)


def _reference(statuses: list[TaskStatus]) -> tuple[TaskStatus | None, int]:
    """The same rule in Python: (state reached, events ignored)."""
    state: TaskStatus | None = None
    ignored = 0
    for status in statuses:
        if can_transition(state, status) or state is status:
            state = status
        else:
            ignored += 1
    return state, ignored


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(st.sampled_from(list(TaskStatus)), min_size=1, max_size=7), min_size=1, max_size=6))
def test_the_view_folds_like_schemas_tasks(clickhouse_client: Any, db: str, tasks: list[list[TaskStatus]]) -> None:
    clickhouse_client.command(f"TRUNCATE TABLE {db}.{ddl.TASK_EVENTS}")
    events = [_event(f"t{n}", status, second, attempt=second)
              for n, statuses in enumerate(tasks) for second, status in enumerate(statuses)]
    _insert(clickhouse_client, db, events)
    current = _current(clickhouse_client, db)
    expected = {f"t{n}": _reference(statuses) for n, statuses in enumerate(tasks)}
    assert set(current) == {task for task, (state, _) in expected.items() if state is not None}
    for task, row in current.items():
        state, ignored = expected[task]
        assert (row["status"], row["ignored_events"], row["events"]) == (state.value if state else None, ignored,
                                                                         len(tasks[int(task[1:])]))
