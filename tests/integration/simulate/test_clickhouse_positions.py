"""Folded positions through the audit tables: decision rows keep them, event rows their offsets,
and the replay read back from ClickHouse (real chDB, real audit schema) folds by them."""

from __future__ import annotations

from typing import Any

import pytest

from schemas import LaneEvent, TaskEvent
from streams.audit import ddl
from streams.audit.migrations import migrate
from streams.audit.rows import (
    TABLE_COLUMNS,
    Source,
    admission_decision_row,
    lane_event_row,
    task_event_row,
)
from streams.simulate.clickhouse_input import _read
from streams.simulate.fidelity import check
from streams.simulate.replay import replay_recorded
from streams.simulate.window import Window
from tests.lagging_agent import QUEUE_LIMIT, SETTINGS, shared_queue_history

pytestmark = pytest.mark.integration


def store(client: Any, db: str) -> None:
    recorded = shared_queue_history()
    t = SETTINGS.topics
    history = recorded.history
    tasks = [task_event_row(e.event, Source(t.events_task, 0, e.offset or 0))
             for e in history.task_events if isinstance(e.event, TaskEvent)]
    lanes = [lane_event_row(e.event, Source(t.events_lane, 0, e.offset or 0))
             for e in history.lane_events if isinstance(e.event, LaneEvent)]
    decisions = [admission_decision_row(d, Source(t.tasks_accepted, 0, i))
                 for i, d in enumerate(d for o in recorded.outcomes for d in o.decisions)]
    for table, rows in ((ddl.TASK_EVENTS, tasks), (ddl.LANE_EVENTS, lanes), (ddl.ADMISSION_DECISIONS, decisions)):
        client.insert(f"{db}.{table}", rows, column_names=list(TABLE_COLUMNS[table]))


def test_the_replay_from_clickhouse_folds_by_recorded_positions(
        clickhouse_client: Any, clickhouse_database: str, clickhouse_dsn: str) -> None:
    db = clickhouse_database
    migrate(clickhouse_client, db, 14)
    store(clickhouse_client, db)
    history = _read(clickhouse_client, db, Window(), clickhouse_dsn)
    assert [e.offset for e in history.task_events] == [0, 1, 2, 3, 4]
    late = [history.decisions[(0, QUEUE_LIMIT + i)] for i in range(3)]
    assert [(d.events_task_upto, d.events_lane_upto) for d in late] == [(3, 2), (4, 2), (5, 2)]
    fidelity = check(history, replay_recorded(history, SETTINGS))
    assert fidelity.disagreements == [], [d.__dict__ for d in fidelity.disagreements]
    assert fidelity.by_position == len(history.arrivals) == QUEUE_LIMIT + 3


def test_rows_from_before_migration_5_replay_by_time(clickhouse_client: Any, clickhouse_database: str,
                                                     clickhouse_dsn: str) -> None:
    db = clickhouse_database
    migrate(clickhouse_client, db, 14)
    store(clickhouse_client, db)
    clickhouse_client.command(f"ALTER TABLE {db}.{ddl.ADMISSION_DECISIONS} UPDATE events_task_upto = NULL, "
                              "events_lane_upto = NULL WHERE 1 SETTINGS mutations_sync = 1")
    history = _read(clickhouse_client, db, Window(), clickhouse_dsn)
    fidelity = check(history, replay_recorded(history, SETTINGS))
    assert fidelity.by_position == 0
    assert {d.task_id for d in fidelity.disagreements} == {"late-0", "late-1", "late-2"}
