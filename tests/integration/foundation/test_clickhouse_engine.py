"""A row written and read back through the ClickHouse client (chDB here)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from streams.clickhouse_client import ClickHouseDsnError, connect

pytestmark = pytest.mark.integration


def test_write_and_read_a_row(clickhouse_client: Any, clickhouse_database: str) -> None:
    table = f"{clickhouse_database}.probe"
    clickhouse_client.command(
        f"CREATE TABLE {table} (event_id UUID, kind LowCardinality(String), "
        "occurred_at DateTime64(3, 'UTC'), value Nullable(Float64)) "
        "ENGINE = ReplacingMergeTree ORDER BY (kind, event_id)"
    )
    at = datetime.now(UTC).replace(microsecond=123000)
    row = ["6f1c3b0e-8f43-4f0e-9a55-3c8d2b1f0a11", "memory_cleanup", at, 1.5]
    clickhouse_client.insert(
        table, [row, row], column_names=["event_id", "kind", "occurred_at", "value"]
    )
    result = clickhouse_client.query(
        f"SELECT toString(event_id), kind, occurred_at, value FROM {table} FINAL"
    )
    assert len(result.result_rows) == 1, "the duplicate row collapses on its key"
    event_id, kind, stored_at, value = result.result_rows[0]
    # chDB answers naive UTC datetimes, a server may answer aware ones: compare in UTC
    stored_at = stored_at if stored_at.tzinfo else stored_at.replace(tzinfo=UTC)
    assert (event_id, kind, stored_at, value) == (row[0], "memory_cleanup", at, 1.5)


def test_dsn_schemes() -> None:
    with pytest.raises(ClickHouseDsnError, match="absolute"):
        connect("chdb://relative/dir")
    with pytest.raises(ClickHouseDsnError, match="unsupported"):
        connect("mysql://host/db")
