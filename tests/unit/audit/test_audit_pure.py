"""Pure audit logic: batching bounds, macro expansion, row mapping and rejects, DDL idempotency."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.topics import Topics
from streams.audit import ddl
from streams.audit.batching import Batcher
from streams.audit.deadletter import reject_id
from streams.audit.macros import MacroError, TimeRange, expand
from streams.audit.panels import PANELS
from streams.audit.rows import TABLE_COLUMNS, Source, routes, to_row
from tests import factories

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
TR = TimeRange(NOW - timedelta(hours=1), NOW, 30)


@given(st.lists(st.floats(0, 0.5), max_size=60), st.integers(1, 10), st.floats(0.1, 2.0))
def test_batcher_never_exceeds_size_or_age(gaps: list[float], max_items: int, max_age: float) -> None:
    b: Batcher[int] = Batcher(max_items, max_age)
    now, opened = 0.0, None
    for i, gap in enumerate(gaps):
        now += gap
        if b.due(now):
            assert len(b) == max_items or now - (opened or 0) >= max_age
            b.drain()
        if not len(b):
            opened = now
        b.add(i, now)
        assert len(b) <= max_items
        assert b.seconds_until_due(now) <= max_age + 1e-9


def test_macros_expand_like_the_plugin() -> None:
    sql = "SELECT $__timeInterval(t) FROM ${database}.x WHERE $__timeFilter(t) AND $__fromTime_ms < $__toTime"
    out = expand(sql, TR, {"database": "db"})
    start, end = int(TR.start.timestamp()), int(TR.end.timestamp())
    assert out == (
        "SELECT toStartOfInterval(toDateTime(t), INTERVAL 30 second) FROM db.x WHERE "
        f"t >= toDateTime({start}) AND t <= toDateTime({end}) AND fromUnixTimestamp64Milli({start * 1000})"
        f" < toDateTime({end})"
    )
    with pytest.raises(MacroError):
        expand("$__nope(x)", TR, {})
    with pytest.raises(MacroError):
        expand("SELECT 1 FROM $missing.t", TR, {})


def test_every_panel_expands_and_filters_on_time() -> None:
    for panel in PANELS:
        assert "$__timeFilter(" in panel.sql, panel.key
        out = expand(panel.sql, TR, {"database": "framegate"})
        assert "$" not in out, panel.key
        assert set(panel.limits) <= set(panel.column_names)


def test_every_message_type_maps_to_a_row_of_its_table() -> None:
    topics = Topics()
    cases = [
        (topics.events_task, factories.task_event(), ddl.TASK_EVENTS),
        (topics.events_lane, factories.heartbeat(), ddl.LANE_EVENTS),
        (topics.events_memory, factories.memory_event(), ddl.MEMORY_EVENTS),
        (topics.tasks_accepted, factories.accepted(), ddl.ADMISSION_DECISIONS),
        (topics.tasks_rejected, factories.rejected(), ddl.ADMISSION_DECISIONS),
    ]
    for topic, message, table in cases:
        mapped = to_row(routes(topics), Source(topic, 0, 7), message.to_wire(), NOW)
        assert mapped.table == table
        assert len(mapped.row) == len(TABLE_COLUMNS[table])
        assert mapped.row[0] == message.event_id and mapped.row[-3:] == [topic, 0, 7]


@pytest.mark.parametrize(
    ("payload", "kind"),
    [(b"not json", "invalid"), (b"{}", "invalid"), (None, "empty"), (b"[" * 70_000, "too_large")],
)
def test_bad_records_become_rejects_with_their_coordinates(payload: bytes | None, kind: str) -> None:
    topics = Topics()
    mapped = to_row(routes(topics), Source(topics.events_lane, 2, 99), payload, NOW)
    assert mapped.table == ddl.REJECTS and mapped.occurred_at is None
    row = dict(zip(TABLE_COLUMNS[ddl.REJECTS], mapped.row, strict=True))
    assert (row["source_topic"], row["source_partition"], row["source_offset"]) == (topics.events_lane, 2, 99)
    assert row["error_kind"] == kind == mapped.reject_kind
    assert row["event_id"] == reject_id(topics.events_lane, 2, 99)


def test_queue_depth_beyond_its_column_is_a_reject_not_a_stuck_insert() -> None:
    topics = Topics()
    decision = factories.rejected(queue_depth=2**40)
    mapped = to_row(routes(topics), Source(topics.tasks_rejected, 0, 1), decision.to_wire(), NOW)
    assert mapped.table == ddl.REJECTS and mapped.reject_kind == "unstorable"
    assert dict(zip(TABLE_COLUMNS[ddl.REJECTS], mapped.row, strict=True))["error_kind"] == "unstorable"


def test_ddl_statements_are_idempotent() -> None:
    for migration in ddl.MIGRATIONS:
        for statement in migration.statements("db", 7):
            assert "IF NOT EXISTS" in statement or "CREATE OR REPLACE" in statement
