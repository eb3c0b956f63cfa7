"""`framegate audit migrate`: idempotent, versioned, re-creates what was dropped, TTL as a setting."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from schemas.topics import Topics
from streams.audit import ddl
from streams.audit.migrations import applied_versions, migrate
from streams.audit.rows import TABLE_COLUMNS, Source, routes, to_row
from streams.cli import app
from tests import factories

pytestmark = pytest.mark.integration


def _tables(client: Any, db: str) -> dict[str, str]:
    rows = client.query(
        "SELECT name, engine FROM system.tables WHERE database = {db:String}", parameters={"db": db}
    ).result_rows
    return dict(rows)


def test_migrate_twice_is_a_no_op_and_recreates_a_dropped_table(clickhouse_client: Any, clickhouse_database: str) -> None:
    db = clickhouse_database
    first = migrate(clickhouse_client, db, heartbeat_ttl_days=14)
    second = migrate(clickhouse_client, db, heartbeat_ttl_days=14)
    assert first.newly_applied == [1, 2, 3, 4, 5, 6] and second.newly_applied == [] and second.already_applied == [1, 2, 3, 4, 5, 6]
    assert applied_versions(clickhouse_client, db) == {1, 2, 3, 4, 5, 6}
    tables = _tables(clickhouse_client, db)
    for name in (ddl.TASK_EVENTS, ddl.ADMISSION_DECISIONS, ddl.LANE_EVENTS, ddl.MEMORY_EVENTS, ddl.REJECTS):
        assert tables[name] == "ReplacingMergeTree"
    assert tables[ddl.TASKS_CURRENT] == "View"
    types = dict(clickhouse_client.query(
        "SELECT name, type FROM system.columns WHERE database = {db:String} AND table = 'admission_decisions'",
        parameters={"db": db}).result_rows)
    assert types["occurred_at"] == "DateTime64(3, 'UTC')" and types["outcome"] == "LowCardinality(String)"
    assert types["code"] == "LowCardinality(Nullable(String))"
    assert types["decided_earlier"] == "Bool" and types["replay_of"] == "Nullable(UUID)"
    assert types["events_task_upto"] == types["events_lane_upto"] == "Nullable(UInt64)"
    sorting = clickhouse_client.query(
        f"SELECT sorting_key FROM system.tables WHERE database = '{db}' AND name = 'lane_events'").result_rows[0][0]
    assert sorting == "lane_key, event_type, occurred_at, event_id"

    clickhouse_client.command(f"DROP TABLE {db}.{ddl.MEMORY_EVENTS}")
    migrate(clickhouse_client, db, heartbeat_ttl_days=14)
    assert ddl.MEMORY_EVENTS in _tables(clickhouse_client, db)
    assert set(TABLE_COLUMNS[ddl.MEMORY_EVENTS]) <= {
        r[0] for r in clickhouse_client.query(f"DESCRIBE TABLE {db}.{ddl.MEMORY_EVENTS}").result_rows
    }


def test_a_v1_database_gets_the_defensive_tasks_current_view(clickhouse_client: Any, clickhouse_database: str) -> None:
    db = clickhouse_database
    assert migrate(clickhouse_client, db, 14, migrations=ddl.MIGRATIONS[:1]).newly_applied == [1]
    columns = {r[0] for r in clickhouse_client.query(f"DESCRIBE TABLE {db}.{ddl.TASKS_CURRENT}").result_rows}
    assert "ignored_events" not in columns
    upgrade = migrate(clickhouse_client, db, 14)
    assert (upgrade.newly_applied, upgrade.already_applied) == ([2, 3, 4, 5, 6], [1])
    columns = {r[0] for r in clickhouse_client.query(f"DESCRIBE TABLE {db}.{ddl.TASKS_CURRENT}").result_rows}
    assert "ignored_events" in columns


def test_heartbeats_expire_by_ttl_but_lane_state_is_kept(clickhouse_client: Any, clickhouse_database: str) -> None:
    db = clickhouse_database
    assert migrate(clickhouse_client, db, heartbeat_ttl_days=14).ttl_changed is False
    assert migrate(clickhouse_client, db, heartbeat_ttl_days=2).ttl_changed is True
    old = datetime.now(UTC) - timedelta(days=5)
    fresh = datetime.now(UTC)
    topics = Topics()
    events = [factories.heartbeat(occurred_at=old), factories.degrade(when=old),
              factories.heartbeat(occurred_at=fresh)]
    rows = [to_row(routes(topics), Source(topics.events_lane, 0, i), e.to_wire(), fresh).row
            for i, e in enumerate(events)]
    clickhouse_client.insert(f"{db}.{ddl.LANE_EVENTS}", rows, column_names=list(TABLE_COLUMNS[ddl.LANE_EVENTS]))
    clickhouse_client.command(f"OPTIMIZE TABLE {db}.{ddl.LANE_EVENTS} FINAL")
    kept = clickhouse_client.query(
        f"SELECT event_type, occurred_at < now() - INTERVAL 1 DAY FROM {db}.{ddl.LANE_EVENTS} ORDER BY event_type"
    ).result_rows
    assert kept == [("heartbeat", False), ("lane_state", True)]


def test_cli_audit_migrate(clickhouse_client: Any, clickhouse_dsn: str) -> None:
    db = f"t_{uuid.uuid4().hex[:12]}"
    env = {"FRAMEGATE_CLICKHOUSE_DSN": clickhouse_dsn, "FRAMEGATE_AUDIT_DATABASE": db}
    try:
        first = CliRunner().invoke(app, ["audit", "migrate"], env=env)
        again = CliRunner().invoke(app, ["audit", "migrate"], env=env)
        assert first.exit_code == 0 and "applied [1, 2, 3, 4, 5, 6]" in first.output, first.output
        assert again.exit_code == 0 and "nothing new" in again.output, again.output
        assert applied_versions(clickhouse_client, db) == {1, 2, 3, 4, 5, 6}
    finally:
        clickhouse_client.command(f"DROP DATABASE IF EXISTS {db}")
