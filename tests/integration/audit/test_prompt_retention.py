"""The prompt retention setting on a real ClickHouse engine: a column TTL that empties request
bodies older than the retention, keeps the rows, and follows a changed setting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas.topics import Topics
from streams.audit import ddl
from streams.audit.migrations import migrate
from streams.audit.retention import align_prompt_retention
from streams.audit.rows import TABLE_COLUMNS, Source, routes, to_row
from tests import factories

pytestmark = pytest.mark.integration


def test_prompt_columns_expire_and_follow_the_setting(clickhouse_client: Any,
                                                      clickhouse_database: str) -> None:
    db = clickhouse_database
    migrate(clickhouse_client, db, heartbeat_ttl_days=14)
    assert align_prompt_retention(clickhouse_client, db, 30) == [
        f"{ddl.ADMISSION_DECISIONS}.request", f"{ddl.REJECTS}.payload"]
    assert align_prompt_retention(clickhouse_client, db, 30) == []
    assert len(align_prompt_retention(clickhouse_client, db, 7)) == 2

    topics = Topics()
    now = datetime.now(UTC)
    rows = []
    for age_days, prompt in ((10, "\u00a7old prompt"), (0, "\u00a7new prompt")):
        decision = factories.accepted(factories.request(prompt=prompt)).model_copy(
            update={"occurred_at": now - timedelta(days=age_days)})
        rows.append(to_row(routes(topics), Source(topics.tasks_accepted, 0, age_days),
                           decision.to_wire(), now).row)
    clickhouse_client.insert(f"{db}.{ddl.ADMISSION_DECISIONS}", rows,
                             column_names=list(TABLE_COLUMNS[ddl.ADMISSION_DECISIONS]))
    clickhouse_client.command(f"OPTIMIZE TABLE {db}.{ddl.ADMISSION_DECISIONS} FINAL")
    kept = clickhouse_client.query(
        f"SELECT kafka_offset, request FROM {db}.{ddl.ADMISSION_DECISIONS} ORDER BY kafka_offset"
    ).result_rows
    assert [offset for offset, _ in kept] == [0, 10]  # both rows stay
    assert "\u00a7new prompt" in kept[0][1]
    assert kept[1][1] == ""  # the 10-day-old body is past the 7-day retention
