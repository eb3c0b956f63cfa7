"""`tasks_current` folds a task's events in log order, exactly as the workers' own fold does.

A task's events are keyed by its id, so one partition of `events.task` holds them all in the
order they were published; their times are producer clocks and tie within a millisecond (a
redelivered task's `pending` and `processing` from the second worker). The view must follow the
log position, never the times.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpu_consumers.task_fold import TaskFold
from schemas.enums import LaneMode, RouteLane, TaskErrorCode, TaskStatus
from schemas.tasks import TaskEvent
from schemas.topics import Topics
from streams.audit import ddl
from streams.audit.macros import TimeRange
from streams.audit.migrations import migrate
from streams.audit.panels import panel
from streams.audit.report import run_panel
from streams.audit.rows import TABLE_COLUMNS, Source, routes, to_row
from tests import factories
from tests.factories import task_event

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)
TOPICS = Topics()
P, R, D, F = TaskStatus.pending, TaskStatus.processing, TaskStatus.done, TaskStatus.failed


@dataclass(frozen=True)
class Step:
    status: TaskStatus
    worker: int
    attempt: int
    #: milliseconds after the previous event; 0 is a tie
    gap_ms: int


def _event(task_id: str, step: Step, at: datetime) -> TaskEvent:
    status = step.status
    return task_event(
        status, task_id, RouteLane.anisora, model="anisora", at=at, created_at=T0, attempt=step.attempt,
        worker_id=None if step.worker == 0 else f"w{step.worker}",
        error_code=TaskErrorCode.gpu_oom if status is F else None,
        artifact_path=f"/artifacts/{task_id}-{step.attempt}.mp4" if status is D else None,
    )


def _rows(events: list[TaskEvent], offsets: list[int]) -> list[list[Any]]:
    route = routes(TOPICS)
    return [to_row(route, Source(TOPICS.events_task, 0, off), e.to_wire(), T0).row
            for e, off in zip(events, offsets, strict=True)]


def _current(client: Any, db: str) -> dict[str, dict[str, Any]]:
    result = client.query(f"SELECT * FROM {db}.{ddl.TASKS_CURRENT}")
    return {row[0]: dict(zip(result.column_names, row, strict=True)) for row in result.result_rows}


def _expected(events: list[TaskEvent]) -> dict[str, Any]:
    """The workers' fold (`gpu_consumers.task_fold`) over the log, plus the fields the view shows
    from the last event it applied: an event the fold takes, or a repeat of the status reached
    (a retry re-announcing `processing`, a redelivered terminal event), which refreshes them."""
    fold = TaskFold()
    applied: list[TaskEvent] = []
    for event in events:
        before = fold.status.get(event.task_id)
        refused = fold.fold(event)
        if refused is None or before is event.task.status:
            applied.append(event)
    last = applied[-1]
    return {
        "status": fold.status[last.task_id].value,
        "worker_id": last.worker_id,
        "artifact_path": last.artifact_path,
        "attempts": max(e.attempt for e in applied),
        "updated_at": last.task.updated_at.replace(tzinfo=None),
        "events": len(events),
        "ignored_events": len(events) - len(applied),
    }


@pytest.fixture(scope="module")
def db(clickhouse_client: Any) -> Any:
    name = "t_log_order"
    clickhouse_client.command(f"DROP DATABASE IF EXISTS {name}")
    migrate(clickhouse_client, name, heartbeat_ttl_days=14)
    yield name
    clickhouse_client.command(f"DROP DATABASE IF EXISTS {name}")


def _life() -> st.SearchStrategy[list[Step]]:
    """Admission's `pending`, then attempts by workers: a worker may die mid-job (the task is
    redelivered: `pending` again from the next worker, then `processing`), a retry re-announces
    `processing`, and the end is `done`, `failed`, or nothing yet. Zombie and stray events
    (a late `processing`, a second terminal) are mixed in anywhere after the start."""
    gap = st.sampled_from([0, 0, 0, 1, 5])
    attempt = st.tuples(st.booleans(), st.booleans(), gap, gap)  # crashed, retried, gaps

    @st.composite
    def build(draw: st.DrawFn) -> list[Step]:
        steps = [Step(P, 0, 0, 0)]
        for n, (crashed, retried, g1, g2) in enumerate(draw(st.lists(attempt, min_size=1, max_size=3)), start=1):
            if n > 1:
                steps.append(Step(P, n, n, g1))  # redelivered to worker n
            steps.append(Step(R, n, n, g2))
            if retried:
                steps.append(Step(R, n, n, 0))
            if crashed:
                continue
            steps.append(Step(draw(st.sampled_from([D, F])), n, n, draw(gap)))
            break
        strays = draw(st.lists(st.tuples(st.integers(1, len(steps)), st.sampled_from(list(TaskStatus)), gap),
                               max_size=2))
        for at, status, g in sorted(strays, reverse=True):
            steps.insert(at, Step(status, 9, 9, g))
        return steps

    return build()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lives=st.lists(_life(), min_size=1, max_size=4), copies=st.lists(st.integers(0, 30), max_size=4))
def test_tasks_current_is_the_workers_fold_of_the_log(clickhouse_client: Any, db: str,
                                                       lives: list[list[Step]], copies: list[int]) -> None:
    clickhouse_client.command(f"TRUNCATE TABLE {db}.{ddl.TASK_EVENTS}")
    by_task: dict[str, list[TaskEvent]] = {}
    log: list[TaskEvent] = []
    for n, steps in enumerate(lives):
        at = T0
        events = []
        for step in steps:
            at += timedelta(milliseconds=step.gap_ms)
            events.append(_event(f"t{n}", step, at))
        by_task[f"t{n}"] = events
        log.extend(events)
    # Tasks interleave in the log as they would in the one partition; each keeps its own order.
    log.sort(key=lambda e: (e.occurred_at, int(e.task_id[1:])))
    order = {id(e): i for i, e in enumerate(log)}
    offsets = [order[id(e)] for e in log]
    rows = _rows(log, offsets)
    # The sink's redelivery writes a row again with the same position and event id.
    redelivered = [rows[i % len(rows)] for i in copies]
    # Stored in an order unrelated to the log: ClickHouse keeps no insertion order anyway.
    stored = list(reversed(rows)) + redelivered
    clickhouse_client.insert(f"{db}.{ddl.TASK_EVENTS}", stored, column_names=list(TABLE_COLUMNS[ddl.TASK_EVENTS]))

    current = _current(clickhouse_client, db)
    for task_id, events in by_task.items():
        in_log = sorted(events, key=lambda e: order[id(e)])
        row = current[task_id]
        assert {k: row[k] for k in _expected(in_log)} == _expected(in_log), task_id


def _killed_worker_events(tie: tuple[int, int]) -> list[TaskEvent]:
    """Worker 1 killed mid-job, worker 2 re-announces `pending` and `processing` in one
    millisecond, then `done`; `tie` orders the two tied events' ids."""
    steps = [Step(P, 0, 0, 0), Step(R, 1, 1, 3), Step(P, 2, 1, 40), Step(R, 2, 1, 0), Step(D, 2, 1, 90)]
    at, events = T0, []
    for n, step in enumerate(steps):
        at += timedelta(milliseconds=step.gap_ms)
        ordinal = {tie[0]: 1, tie[1]: 2}.get(n, 3 + n)
        events.append(_event("killed", step, at).model_copy(update={"event_id": UUID(int=ordinal)}))
    return events


def _store(client: Any, db: str, events: list[TaskEvent]) -> None:
    client.command(f"TRUNCATE TABLE {db}.{ddl.TASK_EVENTS}")
    client.insert(f"{db}.{ddl.TASK_EVENTS}", _rows(events, list(range(len(events)))),
                  column_names=list(TABLE_COLUMNS[ddl.TASK_EVENTS]))


def test_a_redelivery_in_the_same_millisecond_ends_done(clickhouse_client: Any, db: str) -> None:
    for tie in ((2, 3), (3, 2)):
        _store(clickhouse_client, db, _killed_worker_events(tie))
        row = _current(clickhouse_client, db)["killed"]
        assert (row["status"], row["ignored_events"], row["worker_id"]) == ("done", 0, "w2"), tie


def test_migration_6_reorders_an_existing_database(clickhouse_client: Any, clickhouse_database: str) -> None:
    db = clickhouse_database
    migrate(clickhouse_client, db, 14, migrations=ddl.MIGRATIONS[:5])
    _store(clickhouse_client, db, _killed_worker_events((3, 2)))
    assert _current(clickhouse_client, db)["killed"]["status"] == "pending"  # the time-ordered view
    assert migrate(clickhouse_client, db, 14).newly_applied == [6]
    assert _current(clickhouse_client, db)["killed"]["status"] == "done"


def test_lane_panels_take_a_lanes_last_event_in_log_order(clickhouse_client: Any, clickhouse_database: str) -> None:
    """An operator degrades a lane and a worker's clock, a millisecond behind, restores it right
    after: the lane is `dedicated` now, whatever the times say."""
    db = clickhouse_database
    migrate(clickhouse_client, db, 14)
    now = datetime.now(UTC).replace(microsecond=0)
    log = [factories.degrade(when=now, event_id=UUID(int=1)),
           factories.degrade(when=now - timedelta(milliseconds=1), mode=LaneMode.dedicated, fallback_reason=None,
                             event_id=UUID(int=2))]
    route = routes(TOPICS)
    rows = [to_row(route, Source(TOPICS.events_lane, 0, off), e.to_wire(), now).row for off, e in enumerate(log)]
    clickhouse_client.insert(f"{db}.{ddl.LANE_EVENTS}", rows, column_names=list(TABLE_COLUMNS[ddl.LANE_EVENTS]))
    window = TimeRange(now - timedelta(minutes=5), now + timedelta(minutes=5), 3600)
    lanes = run_panel(clickhouse_client, panel("lane_current"), window, db)
    assert [dict(zip(lanes.columns, r, strict=True))["mode"] for r in lanes.rows] == ["dedicated"]
    modes = run_panel(clickhouse_client, panel("lane_mode"), window, db)
    assert [dict(zip(modes.columns, r, strict=True))["degraded"] for r in modes.rows] == [0]
