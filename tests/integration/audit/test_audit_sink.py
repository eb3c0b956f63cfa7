"""The sink against the real broker and chDB: every event once, poison kept, faults survived."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.topics import Topics
from streams.audit.migrations import migrate
from streams.audit.sink import AuditSink
from tests.integration.audit import scenario
from tests.integration.audit.conftest import Loaded, total_rows
from tests.integration.audit.harness import committed_total, running, sink_config
from tests.waiting import async_wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

EVENT_TABLES = {
    "events_task": "task_events",
    "events_lane": "lane_events",
    "events_memory": "memory_events",
    "tasks_accepted": "admission_decisions",
    "tasks_rejected": "admission_decisions",
}


def _scalar(client: Any, sql: str) -> Any:
    return client.query(sql).result_rows[0][0]


def _expected_per_table(run: scenario.Scenario) -> dict[str, int]:
    expected: dict[str, int] = {}
    for topic, n in run.per_topic().items():
        expected[EVENT_TABLES[topic]] = expected.get(EVENT_TABLES[topic], 0) + n
    return expected


def test_every_scenario_event_lands_once_with_its_fields(loaded_pipeline: Loaded) -> None:
    client, db = loaded_pipeline.client, loaded_pipeline.database
    for table, n in _expected_per_table(loaded_pipeline.scenario).items():
        assert _scalar(client, f"SELECT count() FROM {db}.{table} FINAL") == n, table
        assert _scalar(client, f"SELECT uniqExact(event_id) FROM {db}.{table}") == n, table
    rejects = client.query(f"SELECT source_topic, source_offset, error_kind, payload FROM {db}.audit_rejects").result_rows
    assert len(rejects) == 1 and rejects[0][0].endswith("events.task") and rejects[0][2] == "invalid"
    assert rejects[0][1] == loaded_pipeline.scenario.count("events_task")  # published after the others
    assert rejects[0][3] == "{'status': 'done'"

    overloaded = client.query(
        f"SELECT status, lane, lane_mode, max(queue_depth), countIf(reason = 'depth') "
        f"FROM {db}.admission_decisions FINAL WHERE code = 'queue_overloaded' GROUP BY 1, 2, 3"
    ).result_rows
    assert overloaded == [(503, "shared", "degraded_shared", 25, 4)]
    degraded = _scalar(client, f"SELECT count() FROM {db}.admission_decisions FINAL WHERE has(degraded_parameters, 'resolution')")
    assert degraded == 15
    unparseable = client.query(
        f"SELECT task_id, source_topic, source_partition, source_offset FROM {db}.admission_decisions "
        "WHERE code = 'malformed_request'"
    ).result_rows
    assert unparseable == [(None, "framegate.tasks.requested", 1, 42)]
    request = json.loads(_scalar(client, f"SELECT request FROM {db}.admission_decisions WHERE outcome = 'accepted' LIMIT 1"))
    assert request["model"] in ("anisora", "phr00t")

    statuses = dict(client.query(f"SELECT status, count() FROM {db}.tasks_current GROUP BY status").result_rows)
    assert statuses == {"done": 21, "failed": 3, "pending": 13}
    # the hijacked task: its later processing and done are illegal after failed, so ignored
    hijacked = client.query(
        f"SELECT status, error_code, events, ignored_events FROM {db}.tasks_current WHERE ignored_events > 0"
    ).result_rows
    assert hijacked == [("failed", "admission_rejected", 4, 2)]
    heartbeat = client.query(
        f"SELECT load1, cpu_cores, vram_total_gib FROM {db}.lane_events WHERE event_type = 'heartbeat' LIMIT 1"
    ).result_rows[0]
    assert heartbeat[1] == 8 and heartbeat[2] == 80.0
    memory = client.query(
        f"SELECT event_type, count() FROM {db}.memory_events GROUP BY 1 ORDER BY 1"
    ).result_rows
    assert dict(memory) == {
        "fallback_activated": 1, "memory_cleanup": 23, "memory_post_generation": 22,
        "queue_overloaded": 8, "queue_timeout": 1,
    }


def test_poison_records_go_to_rejects_with_their_offsets_and_do_not_block(
    kafka_bootstrap: str, topics: Topics, clickhouse_client: Any, clickhouse_dsn: str, clickhouse_database: str
) -> None:
    db = clickhouse_database
    migrate(clickhouse_client, db, heartbeat_ttl_days=14)
    good = scenario.build().messages[:20]
    raw: list[tuple[str, bytes | None]] = [
        ("events_task", b"\x00\xffnot json at all"),
        ("events_lane", b'{"event_type": "heartbeat", "lane_key": "nowhere"}'),
        ("events_memory", b'{"event_type": "memory_cleanup", "lane_mode": "dedicated"}'),
        ("tasks_rejected", None),
        ("tasks_accepted", b"[" * 70_000),
    ]

    async def go() -> None:
        await scenario.publish(kafka_bootstrap, topics, good[:10], raw)
        await scenario.publish(kafka_bootstrap, topics, good[10:])
        async with running(AuditSink(sink_config(kafka_bootstrap, topics, clickhouse_dsn, db))) as task:
            await async_wait_until(
                lambda: total_rows(clickhouse_client, db) == 20
                and _scalar(clickhouse_client, f"SELECT count() FROM {db}.audit_rejects") == 5,
                timeout_s=60, interval_s=0.2, what="good rows and rejects",
            )
            assert not task.done()

    asyncio.run(go())
    rejects = clickhouse_client.query(
        f"SELECT source_topic, source_partition, error_kind, payload_bytes, source_offset "
        f"FROM {db}.audit_rejects FINAL ORDER BY source_topic"
    ).result_rows
    kinds = {(row[0].removeprefix(topics.prefix), row[2]) for row in rejects}
    assert kinds == {
        ("events.task", "invalid"), ("events.lane", "invalid"), ("events.memory", "invalid"),
        ("tasks.rejected", "empty"), ("tasks.accepted", "too_large"),
    }
    assert all(row[1] == 0 for row in rejects)
    # each topic got its poison record after the good ones published before it
    offsets = {row[0].removeprefix(topics.prefix): row[4] for row in rejects}
    counts = {attr.replace("_", ".", 1): sum(1 for t, _, _ in good[:10] if t == attr) for attr in EVENT_TABLES}
    assert offsets["events.task"] == counts["events.task"]


def test_no_loss_and_no_duplicates_while_clickhouse_refuses_inserts(
    kafka_bootstrap: str, topics: Topics, clickhouse_client: Any, clickhouse_dsn: str, clickhouse_database: str
) -> None:
    db = clickhouse_database
    migrate(clickhouse_client, db, heartbeat_ttl_days=14)
    run = scenario.build().messages
    first, during, after = run[:60], run[60:160], run[160:]
    tables = ("task_events", "admission_decisions", "lane_events", "memory_events")

    async def go() -> None:
        config = sink_config(kafka_bootstrap, topics, clickhouse_dsn, db)
        sink = AuditSink(config)
        sample = sink.metrics.registry.get_sample_value
        async with running(sink) as task:
            await scenario.publish(kafka_bootstrap, topics, first)
            await async_wait_until(lambda: total_rows(clickhouse_client, db) == len(first), timeout_s=60,
                                   interval_s=0.1, what="first slice")
            # every batch counted (rows taken) and committed: the first slice is behind us
            await async_wait_until(lambda: sink.stats.rows == len(first)
                                   and sink.stats.batches == sample("framegate_audit_commits_total"),
                                   timeout_s=30, what="first slice committed")
            commits = sample("framegate_audit_commits_total")
            for table in tables:  # ClickHouse now refuses every insert
                clickhouse_client.command(f"DETACH TABLE {db}.{table}")
            await scenario.publish(kafka_bootstrap, topics, during)
            await async_wait_until(lambda: sink.stats.insert_failures >= 3, timeout_s=60, what="refusals")
            # refused: the sink keeps polling with every partition paused, and commits nothing
            polls = sink.stats.paused_polls
            await async_wait_until(lambda: sink.stats.paused_polls >= polls + 3, timeout_s=30,
                                   what="polls while paused")
            assert not task.done()
            refused = sum(
                sample("framegate_audit_insert_failures_total", {"table": t}) or 0.0 for t in tables
            )
            assert refused == sink.stats.insert_failures
            assert sample("framegate_audit_clickhouse_up") == 0
            assert sample("framegate_audit_commits_total") == commits
            assert await committed_total(config) == len(first)  # all of the first slice, none of this
            for table in tables:
                clickhouse_client.command(f"ATTACH TABLE {db}.{table}")
            migrate(clickhouse_client, db, heartbeat_ttl_days=14)  # recovery as an operator would run it
            await scenario.publish(kafka_bootstrap, topics, after)
            await async_wait_until(lambda: total_rows(clickhouse_client, db) == len(run), timeout_s=60,
                                   interval_s=0.1, what="every event after recovery")
            assert not task.done()
            assert sample("framegate_audit_clickhouse_up") == 1
            assert sink.stats.paused_polls > polls

            async def caught_up() -> bool:  # commits reached the last record of every partition
                return await committed_total(config) == len(run)

            await async_wait_until(caught_up, timeout_s=30, interval_s=0.2, what="commits up to the end")

    asyncio.run(go())
    for table in tables:
        assert _scalar(clickhouse_client, f"SELECT count() FROM {db}.{table} FINAL") == _scalar(
            clickhouse_client, f"SELECT uniqExact(event_id) FROM {db}.{table}"
        )
    assert total_rows(clickhouse_client, db) == len(run)


def test_restart_mid_stream_loses_nothing_and_counts_nothing_twice(
    kafka_bootstrap: str, topics: Topics, clickhouse_client: Any, clickhouse_dsn: str, clickhouse_database: str
) -> None:
    db = clickhouse_database
    migrate(clickhouse_client, db, heartbeat_ttl_days=14)
    run = scenario.build().messages
    half = len(run) // 2
    config = sink_config(kafka_bootstrap, topics, clickhouse_dsn, db, batch_max_seconds=1.0, batch_max_rows=40)

    async def go() -> None:
        await scenario.publish(kafka_bootstrap, topics, run[:half])
        first = AuditSink(config)
        # a crash: cancelled mid-stream, its last partial batch neither inserted nor committed
        async with running(first, crash=True):
            await async_wait_until(lambda: first.stats.batches >= 2, timeout_s=60, what="two batches")
        await scenario.publish(kafka_bootstrap, topics, run[half:])
        second = AuditSink(config)
        async with running(second):
            await async_wait_until(lambda: total_rows(clickhouse_client, db) == len(run), timeout_s=60,
                                   interval_s=0.1, what="all events after restart")
        # a full redelivery (new group from the earliest offset) inserts every event again
        replay = AuditSink(replace(config, group_id=f"{config.group_id}-replay"))
        async with running(replay):
            await async_wait_until(lambda: replay.stats.rows >= len(run), timeout_s=60, what="replay")
        assert replay.stats.rows == len(run)  # a fresh group reads each event exactly once

    asyncio.run(go())
    expected = _expected_per_table(scenario.Scenario(run))
    for table, n in expected.items():
        # once merged, every copy collapses on event_id: exactly one row per event
        clickhouse_client.command(f"OPTIMIZE TABLE {db}.{table} FINAL")
        assert _scalar(clickhouse_client, f"SELECT count() FROM {db}.{table}") == n, table
    assert total_rows(clickhouse_client, db) == len(run)


def test_stop_is_honoured_while_clickhouse_refuses_and_nothing_is_lost(
    kafka_bootstrap: str, topics: Topics, clickhouse_client: Any, clickhouse_dsn: str, clickhouse_database: str
) -> None:
    db = clickhouse_database
    migrate(clickhouse_client, db, heartbeat_ttl_days=14)
    run = scenario.build().messages[:80]
    tables = ("task_events", "admission_decisions", "lane_events", "memory_events")
    # long backoff: the stop must not wait for the retry
    config = sink_config(kafka_bootstrap, topics, clickhouse_dsn, db, retry_initial_s=20.0, retry_max_s=60.0)

    async def go() -> None:
        for table in tables:
            clickhouse_client.command(f"DETACH TABLE {db}.{table}")
        await scenario.publish(kafka_bootstrap, topics, run)
        sink = AuditSink(config)
        stop = asyncio.Event()
        task = asyncio.create_task(sink.run(stop))
        await async_wait_until(lambda: sink.stats.insert_failures >= 1, timeout_s=60, what="a refusal")
        assert sink.metrics.registry.get_sample_value("framegate_audit_commits_total") == 0
        stop.set()
        await asyncio.wait_for(task, timeout=10)  # the final attempt is refused too: nothing committed
        assert sink.metrics.registry.get_sample_value("framegate_audit_commits_total") == 0
        for table in tables:
            clickhouse_client.command(f"ATTACH TABLE {db}.{table}")
        async with running(AuditSink(config)):  # same group: everything is redelivered
            await async_wait_until(lambda: total_rows(clickhouse_client, db) == len(run), timeout_s=60,
                                   interval_s=0.1, what="every event after the restart")

    asyncio.run(go())
    assert total_rows(clickhouse_client, db) == len(run)


class _SkippingSink(AuditSink):
    """Fault injection: once armed, the sink's consumer is moved two records past its position on
    `events.task`, where a fetch that skipped two records would leave it."""

    armed = False
    skipped_from: int | None = None

    async def turn(self, consumer: AIOKafkaConsumer, step: Any) -> None:
        if self.armed:
            self.armed = False
            tp = TopicPartition(self.config.topics.events_task, 0)
            self.skipped_from = await consumer.position(tp)
            consumer.seek(tp, self.skipped_from + 2)
        await super().turn(consumer, step)


def test_a_fetch_that_skips_offsets_is_read_again_and_every_event_lands(
    kafka_bootstrap: str, topics: Topics, clickhouse_client: Any, clickhouse_dsn: str, clickhouse_database: str
) -> None:
    db = clickhouse_database
    migrate(clickhouse_client, db, heartbeat_ttl_days=14)
    run = scenario.build().messages
    tasks = [m for m in run if m[0] == "events_task"]
    first, second = tasks[:10], tasks[10:20]
    sink = _SkippingSink(sink_config(kafka_bootstrap, topics, clickhouse_dsn, db))

    async def go() -> None:
        await scenario.publish(kafka_bootstrap, topics, first)
        async with running(sink):
            await async_wait_until(lambda: total_rows(clickhouse_client, db) == 10, timeout_s=60,
                                   interval_s=0.1, what="the first events")
            sink.armed = True
            await async_wait_until(lambda: sink.skipped_from is not None, timeout_s=30, what="the skip")
            await scenario.publish(kafka_bootstrap, topics, second)
            await async_wait_until(lambda: sink.stats.rows >= 18, timeout_s=60, interval_s=0.1,
                                   what="the second events")
            # the two skipped records come a fetch later, once the sink has sought back to them
            await async_wait_until(lambda: total_rows(clickhouse_client, db) >= 20, timeout_s=15,
                                   interval_s=0.1, what="the skipped events too")

    asyncio.run(go())
    assert sink.skipped_from == 10
    assert _scalar(clickhouse_client, f"SELECT count() FROM {db}.task_events FINAL") == 20
    offsets = [row[0] for row in clickhouse_client.query(
        f"SELECT kafka_offset FROM {db}.task_events FINAL ORDER BY kafka_offset").result_rows]
    assert offsets == list(range(20))
