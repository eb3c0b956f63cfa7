"""One realistic pipeline run, loaded once per test package through the real broker and sink into chDB."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from schemas.topics import Topics
from streams.audit.migrations import migrate
from streams.audit.sink import AuditSink
from tests.integration.audit import scenario
from tests.integration.audit.harness import running, sink_config
from tests.waiting import async_wait_until

POISON: list[tuple[str, bytes | None]] = [("events_task", b"{'status': 'done'")]


@dataclass(frozen=True)
class Loaded:
    database: str
    scenario: scenario.Scenario
    client: Any


def total_rows(client: Any, db: str) -> int:
    tables = ("task_events", "admission_decisions", "lane_events", "memory_events")
    return sum(
        int(client.query(f"SELECT uniqExact(event_id) FROM {db}.{t}").result_rows[0][0]) for t in tables
    )


@pytest.fixture(scope="package")
def loaded_pipeline(kafka_bootstrap: str, clickhouse_client: Any, clickhouse_dsn: str) -> Iterator[Loaded]:
    from streams.local_stack.topics import create_topics

    topics = Topics(prefix=f"t{uuid.uuid4().hex[:10]}.")
    asyncio.run(create_topics(kafka_bootstrap, topics))
    db = f"t_{uuid.uuid4().hex[:12]}"
    migrate(clickhouse_client, db, heartbeat_ttl_days=14)
    run = scenario.build()

    async def load() -> None:
        # one record from a broken producer: the pipeline run keeps going, the record is kept
        await scenario.publish(kafka_bootstrap, topics, run.messages, POISON)
        sink = AuditSink(sink_config(kafka_bootstrap, topics, clickhouse_dsn, db))
        async with running(sink):
            await async_wait_until(
                lambda: total_rows(clickhouse_client, db) == len(run.messages)
                and int(clickhouse_client.query(f"SELECT count() FROM {db}.audit_rejects").result_rows[0][0]) == 1,
                timeout_s=60, interval_s=0.2, what="scenario rows in ClickHouse",
            )

    asyncio.run(load())
    try:
        yield Loaded(db, run, clickhouse_client)
    finally:
        clickhouse_client.command(f"DROP DATABASE IF EXISTS {db}")
