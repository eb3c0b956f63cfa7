"""Audit sink throughput (Kafka -> chDB) vs a bare clickhouse-connect batch insert of the same rows.

Run: .venv/bin/python bench/sink_throughput.py [--events N]
Prints events/s for both, their ratio (target >= 0.8) and the p99 lag from event time to row
visible (ingested_at - occurred_at) measured while events are produced live.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiokafka import AIOKafkaProducer

from schemas.broker_profile import BROKER_PROFILES
from schemas.topics import Topics
from streams.audit.migrations import migrate
from streams.audit.rows import TABLE_COLUMNS, Source, routes, to_row
from streams.audit.sink import AuditSink, SinkConfig
from streams.clickhouse_client import connect
from streams.local_stack.broker import LocalBroker, free_port
from streams.local_stack.topics import create_topics
from tests import factories

TABLES = ("task_events", "admission_decisions", "lane_events", "memory_events")
PROFILE = BROKER_PROFILES["tansu"]


def _messages(n: int) -> list[tuple[str, Any]]:
    makers: list[tuple[str, Callable[[], Any]]] = [
        ("events_task", factories.task_event), ("events_lane", factories.heartbeat),
        ("events_memory", factories.memory_event), ("tasks_accepted", factories.accepted),
    ]
    return [(makers[i % 4][0], makers[i % 4][1]()) for i in range(n)]


async def _produce(bootstrap: str, topics: Topics, msgs: list[tuple[str, Any]], rate: float | None) -> None:
    producer = AIOKafkaProducer(**PROFILE.producer_kwargs(bootstrap, linger_ms=5, max_batch_size=262_144))
    await producer.start()
    try:
        futures = []
        start = time.monotonic()
        for i, (attr, msg) in enumerate(msgs):
            if rate:
                msg = msg.model_copy(update={"occurred_at": datetime.now(UTC)})
                delay = start + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            futures.append(await producer.send(getattr(topics, attr), value=msg.to_wire()))
        for f in futures:
            await f
    finally:
        await producer.stop()


def _count(client: Any, db: str) -> int:
    return sum(int(client.query(f"SELECT count() FROM {db}.{t}").result_rows[0][0]) for t in TABLES)


async def _sink_rate(sink: AuditSink, client: Any, db: str, n: int) -> tuple[float, float]:
    """(events/s, seconds) from the first batch inserted to all n rows inserted.

    The group join is left out, and so are the first batch's rows (already in when the clock
    starts). Progress is the sink's own counter (moved once ClickHouse acknowledged a batch), not
    chDB queries, which run in this process and would compete with the sink for CPU.
    """
    stop = asyncio.Event()
    task = asyncio.create_task(sink.run(stop))
    while not sink.stats.rows:  # noqa: ASYNC110 - polling the counter is the measurement
        await asyncio.sleep(0.002)
    first_rows, first = sink.stats.rows, time.monotonic()
    while sink.stats.rows < n:  # noqa: ASYNC110
        await asyncio.sleep(0.002)
    elapsed = time.monotonic() - first
    stop.set()
    await task
    assert _count(client, db) == n, "every row visible in ClickHouse"
    return (n - first_rows) / elapsed, elapsed


async def main(n: int, live: int, rate: float) -> None:
    with tempfile.TemporaryDirectory() as tmp, LocalBroker(port=free_port()) as broker:
        bootstrap = broker.bootstrap
        dsn = f"chdb://{tmp}/ch"
        client = connect(dsn)
        topics = Topics(prefix=f"b{uuid.uuid4().hex[:6]}.")
        await create_topics(bootstrap, topics)
        msgs = _messages(n)
        await _produce(bootstrap, topics, msgs, None)

        # bare: the same rows (already mapped), batch-inserted with clickhouse-connect
        migrate(client, "bare", 14)
        route = routes(topics)
        by_table: dict[str, list[list[Any]]] = defaultdict(list)
        for i, (attr, msg) in enumerate(msgs):
            m = to_row(route, Source(getattr(topics, attr), 0, i), msg.to_wire(), datetime.now(UTC))
            by_table[m.table].append(m.row)
        batch = 5000
        t0 = time.monotonic()
        for table, rows in by_table.items():
            for k in range(0, len(rows), batch):
                client.insert(f"bare.{table}", rows[k:k + batch], column_names=list(TABLE_COLUMNS[table]))
        bare_s = time.monotonic() - t0

        migrate(client, "sink", 14)
        config = SinkConfig(bootstrap, topics, dsn, "sink", f"{topics.prefix}bench", PROFILE,
                            batch_max_rows=batch, batch_max_seconds=0.5)
        sink_eps, sink_s = await _sink_rate(AuditSink(config), client, "sink", n)

        # live lag: a fresh topic set, events stamped at send time, sink already running
        live_topics = Topics(prefix=f"l{uuid.uuid4().hex[:6]}.")
        await create_topics(bootstrap, live_topics)
        migrate(client, "live", 14)
        live_cfg = SinkConfig(bootstrap, live_topics, dsn, "live", f"{live_topics.prefix}bench", PROFILE,
                              batch_max_rows=batch, batch_max_seconds=0.2)
        stop = asyncio.Event()
        sink_task = asyncio.create_task(AuditSink(live_cfg).run(stop))
        await asyncio.sleep(4)  # group join (tansu: ~3 s), not part of the lag
        await _produce(bootstrap, live_topics, _messages(live), rate)
        while _count(client, "live") < live:  # noqa: ASYNC110 - polling ClickHouse is the measurement
            await asyncio.sleep(0.05)
        stop.set()
        await sink_task
        q = " UNION ALL ".join(
            f"SELECT dateDiff('millisecond', occurred_at, ingested_at) AS ms FROM live.{t}" for t in TABLES)
        p50, p99, mx = client.query(f"SELECT quantile(0.5)(ms), quantile(0.99)(ms), max(ms) FROM ({q})").result_rows[0]
        client.close()

    bare_eps = n / bare_s
    print(f"events: {n} (mixed task/lane/memory/decision), batch {batch} rows, chDB, tansu broker")
    print(f"bare clickhouse-connect insert of mapped rows: {bare_eps:,.0f} events/s ({bare_s:.3f} s)")
    print(f"audit sink Kafka -> chDB (decode+validate+map+insert+commit): {sink_eps:,.0f} events/s ({sink_s:.3f} s)")
    print(f"ratio sink/bare: {sink_eps / bare_eps:.2f} (target >= 0.8)")
    print(f"live lag event time -> row visible, {live} events at {rate:.0f}/s: "
          f"p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {mx:.0f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--live-events", type=int, default=2_000)
    parser.add_argument("--rate", type=float, default=500.0)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.live_events, args.rate))
