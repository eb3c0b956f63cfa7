"""`framegate audit-sink`: every audited topic into ClickHouse, at least once, collapsing on event_id.

Order of work per batch: poll Kafka -> map rows (pure, `rows.to_row`) -> insert per table ->
commit offsets. Offsets are committed only after every table of the batch was accepted, so a
crash or a refused insert means redelivery, never loss; redelivered copies collapse on event_id.
While ClickHouse refuses, the sink keeps the batch and retries with capped exponential backoff;
it does not poll further (the batch bounds memory) and never exits on a ClickHouse error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from schemas.broker_profile import BrokerProfile
from schemas.topics import Topics
from streams.audit.batching import Batcher
from streams.audit.metrics import SinkMetrics
from streams.audit.migrations import check_database_name
from streams.audit.rows import TABLE_COLUMNS, MappedRow, Source, routes, to_row
from streams.clickhouse_client import connect

log = logging.getLogger("framegate.audit.sink")


@dataclass(frozen=True)
class SinkConfig:
    bootstrap: str
    topics: Topics
    dsn: str
    database: str
    group_id: str
    broker: BrokerProfile
    batch_max_rows: int = 5000
    batch_max_seconds: float = 1.0
    retry_initial_s: float = 0.5
    retry_max_s: float = 30.0


@dataclass
class SinkStats:
    batches: int = 0
    rows: int = 0
    rejects: int = 0
    insert_failures: int = 0
    commit_failures: int = 0
    last_error: str | None = None
    consuming: bool = False


@dataclass(frozen=True)
class _Pending:
    mapped: MappedRow
    tp: TopicPartition
    offset: int


def backoff_delays(initial: float, cap: float) -> Callable[[int], float]:
    """attempt (1, 2, ...) -> seconds: doubling from `initial`, capped at `cap`."""
    return lambda attempt: min(cap, initial * 2 ** min(attempt - 1, 30))


class _DropBufferOnRevoke(ConsumerRebalanceListener):
    """Uncommitted records of revoked partitions are redelivered to their next owner."""

    def __init__(self, batcher: Batcher[_Pending]) -> None:
        self.batcher = batcher

    async def on_partitions_revoked(self, revoked: Any) -> None:
        self.batcher.clear()

    async def on_partitions_assigned(self, assigned: Any) -> None:
        return None


@dataclass
class AuditSink:
    config: SinkConfig
    metrics: SinkMetrics = field(default_factory=SinkMetrics)
    stats: SinkStats = field(default_factory=SinkStats)
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        check_database_name(self.config.database)
        self._routes = routes(self.config.topics)
        self._batcher: Batcher[_Pending] = Batcher(self.config.batch_max_rows, self.config.batch_max_seconds)
        self._delay = backoff_delays(self.config.retry_initial_s, self.config.retry_max_s)
        self._client: Any = None

    # --- edges -------------------------------------------------------------------------------
    async def _wait_or_stop(self, stop: asyncio.Event, seconds: float) -> bool:
        """Sleeps up to `seconds`; True if `stop` was set meanwhile."""
        try:
            await asyncio.wait_for(stop.wait(), timeout=seconds)
        except TimeoutError:
            return False
        return True

    async def _connect_clickhouse(self, stop: asyncio.Event) -> bool:
        attempt = 0
        while not stop.is_set():
            attempt += 1
            try:
                self._client = await asyncio.to_thread(connect, self.config.dsn)
                return True
            except Exception as exc:  # a server that is down must not kill the sink
                self._note_failure(f"connect: {exc}")
                if await self._wait_or_stop(stop, self._delay(attempt)):
                    break
        return False

    def _note_failure(self, message: str) -> None:
        self.stats.last_error = message[:500]
        self.metrics.clickhouse_up.set(0)
        log.warning("audit sink: %s", message[:500])

    # --- main loop ---------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        if not await self._connect_clickhouse(stop):
            return
        cfg = self.config
        consumer = AIOKafkaConsumer(
            **cfg.broker.consumer_kwargs(cfg.bootstrap, cfg.group_id, max_poll_records=cfg.batch_max_rows)
        )
        consumer.subscribe(cfg.topics.audited(), listener=_DropBufferOnRevoke(self._batcher))
        await consumer.start()
        self.stats.consuming = True
        try:
            while not stop.is_set():
                wait_s = min(0.2, self._batcher.seconds_until_due(self.clock()))
                room = cfg.batch_max_rows - len(self._batcher)
                fetched = await consumer.getmany(timeout_ms=int(wait_s * 1000), max_records=max(1, room))
                self._accept(fetched)
                if self._batcher.due(self.clock()):
                    await self._flush(consumer, stop)
            if len(self._batcher):
                await self._flush(consumer, stop, final=True)
        finally:
            self.stats.consuming = False
            await consumer.stop()
            if self._client is not None:
                self._client.close()

    def _accept(self, fetched: dict[TopicPartition, list[Any]]) -> None:
        received = datetime.now(UTC)
        now = self.clock()
        for tp, records in fetched.items():
            for record in records:
                source = Source(tp.topic, tp.partition, record.offset)
                self._batcher.add(_Pending(to_row(self._routes, source, record.value, received), tp, record.offset), now)
        self.metrics.pending_rows.set(len(self._batcher))

    async def _flush(self, consumer: AIOKafkaConsumer, stop: asyncio.Event, final: bool = False) -> bool:
        """Inserts the batch table by table (retrying refused tables only), then commits.

        Returns False when stopping before ClickHouse accepted everything: nothing is committed
        then, so the records come back on the next run.
        """
        items = self._batcher.drain()
        if not items:
            return True
        started = self.clock()
        by_table: dict[str, list[list[Any]]] = defaultdict(list)
        offsets: dict[TopicPartition, int] = {}
        for item in items:
            by_table[item.mapped.table].append(item.mapped.row)
            offsets[item.tp] = max(offsets.get(item.tp, -1), item.offset + 1)
        waiting = dict(by_table)
        attempt = 0
        while waiting:
            table, rows = next(iter(waiting.items()))
            try:
                await asyncio.to_thread(
                    self._client.insert,
                    f"{self.config.database}.{table}",
                    rows,
                    column_names=list(TABLE_COLUMNS[table]),
                )
            except Exception as exc:  # any refusal: keep the rows, back off, try again
                attempt += 1
                self.stats.insert_failures += 1
                self.metrics.insert_failures.labels(table).inc()
                self._note_failure(f"insert into {table} refused (attempt {attempt}): {exc}")
                # On the final flush a stop is already requested: one bounded round of retries.
                limit = self._delay(attempt)
                if (stop.is_set() and not final) or (final and attempt >= 3):
                    return False
                if await self._wait_or_stop(stop, limit) and not final:
                    return False
                continue
            del waiting[table]
            self.metrics.rows_inserted.labels(table).inc(len(rows))
            self.metrics.clickhouse_up.set(1)
        self._observe(items, started)
        try:
            await consumer.commit(offsets)
            self.metrics.commits.inc()
        except (KafkaError, AssertionError) as exc:
            # A rebalance took the partitions: the next owner re-reads them, copies collapse.
            self.stats.commit_failures += 1
            self.metrics.commit_failures.inc()
            log.warning("audit sink: commit failed, records will be redelivered: %s", exc)
        self.stats.batches += 1
        return True

    def _observe(self, items: list[_Pending], started: float) -> None:
        now = datetime.now(UTC)
        rejects = 0
        for item in items:
            occurred = item.mapped.occurred_at
            if occurred is None:
                rejects += 1
                self.metrics.rejected_records.labels(item.mapped.row[5]).inc()
            else:
                self.metrics.lag_seconds.observe(max(0.0, (now - occurred).total_seconds()))
        self.stats.rows += len(items) - rejects
        self.stats.rejects += rejects
        self.metrics.batch_rows.observe(len(items))
        self.metrics.flush_seconds.observe(self.clock() - started)
        self.metrics.pending_rows.set(len(self._batcher))


def sink_from_settings(settings: Any, metrics: SinkMetrics | None = None) -> AuditSink:
    config = SinkConfig(
        bootstrap=settings.kafka_bootstrap,
        topics=settings.topics,
        dsn=settings.resolved_clickhouse_dsn,
        database=settings.audit_database,
        group_id=settings.audit_group_id,
        broker=settings.broker,
        batch_max_rows=settings.audit_batch_max_rows,
        batch_max_seconds=settings.audit_batch_max_seconds,
        retry_initial_s=settings.audit_retry_initial_s,
        retry_max_s=settings.audit_retry_max_s,
    )
    return AuditSink(config, metrics=metrics or SinkMetrics())
