"""A checkpoint: one drained batch, flushed table by table, then its offsets committed.

Flush before commit is the at-least-once rule: offsets move only after ClickHouse accepted every
table of the batch. A refused table raises `SinkBackpressureError` out of `flush`; the tables
already written stay marked, so a retry of the same checkpoint writes only the rest (a repeat
would collapse on event_id anyway). A failed commit is not an error of the sink: the records are
redelivered to whoever owns the partitions next, and their copies collapse.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from streams.audit.metrics import SinkMetrics
from streams.audit.rows import MappedRow
from streams.audit.writer import ClickHouseWriter

log = logging.getLogger("framegate.audit.checkpoint")


class Committer(Protocol):
    async def commit(self, offsets: dict[TopicPartition, int]) -> None: ...


@dataclass
class SinkStats:
    batches: int = 0
    rows: int = 0
    rejects: int = 0
    insert_failures: int = 0
    commit_failures: int = 0
    polls: int = 0
    #: polls made while every assigned partition was paused (back-pressure or a full buffer)
    paused_polls: int = 0
    last_error: str | None = None
    consuming: bool = False
    #: monotonic time the first records arrived (the benchmark's clock starts there)
    first_records_at: float | None = None
    #: seconds per stage: `fetch` (in getmany, waiting included), `decode` (bytes to validated
    #: messages), `rows` (messages to rows), `insert` (in a worker thread), `commit`; fetch, decode
    #: and rows overlap the insert in flight
    seconds: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(("fetch", "decode", "rows", "insert", "commit"), 0.0)
    )


@dataclass
class Checkpoint:
    rows: dict[str, list[list[Any]]]
    #: per partition, the next offset to read: what the commit stores
    offsets: dict[TopicPartition, int]
    #: the sink's assignment generation when the batch was read; a revocation makes it stale
    generation: int
    size: int
    rejects: Counter[str]
    oldest_event: datetime | None
    written: set[str] = field(default_factory=set)

    @classmethod
    def build(cls, items: list[MappedRow], offsets: dict[TopicPartition, int], generation: int) -> Checkpoint:
        rows: dict[str, list[list[Any]]] = defaultdict(list)
        rejects: Counter[str] = Counter()
        oldest: datetime | None = None
        for item in items:
            rows[item.table].append(item.row)
            if item.reject_kind is not None:
                rejects[item.reject_kind] += 1
            elif item.occurred_at is not None and (oldest is None or item.occurred_at < oldest):
                oldest = item.occurred_at
        return cls(dict(rows), dict(offsets), generation, len(items), rejects, oldest)

    def pending_tables(self) -> list[str]:
        return [table for table in self.rows if table not in self.written]


@dataclass
class CheckpointStep:
    writer: ClickHouseWriter
    committer: Committer
    metrics: SinkMetrics
    stats: SinkStats
    clock: Callable[[], float] = time.perf_counter

    async def flush(self, checkpoint: Checkpoint) -> None:
        """Writes every table not yet written; raises `SinkBackpressureError` on a refusal.

        All tables go in one worker-thread call: a hop back to the event loop between tables
        would wait for whatever the loop runs meanwhile (the next poll's decode)."""
        await asyncio.to_thread(self.write_pending, checkpoint)

    def write_pending(self, checkpoint: Checkpoint) -> None:
        """Blocking form of `flush` (run it in a worker thread)."""
        for table in checkpoint.pending_tables():
            rows = checkpoint.rows[table]
            started = self.clock()
            try:
                self.writer.write(table, rows)
            except Exception:
                self.stats.insert_failures += 1
                self.metrics.insert_failures.labels(table).inc()
                self.metrics.clickhouse_up.set(0)
                raise
            finally:
                self.stats.seconds["insert"] += self.clock() - started
            checkpoint.written.add(table)
            self.metrics.rows_inserted.labels(table).inc(len(rows))
            self.metrics.clickhouse_up.set(1)

    async def commit(self, checkpoint: Checkpoint) -> bool:
        """Commits the checkpoint's offsets (after `flush`); False when Kafka refused."""
        started = self.clock()
        try:
            await self.committer.commit(checkpoint.offsets)
        except (KafkaError, AssertionError) as exc:
            self.stats.commit_failures += 1
            self.metrics.commit_failures.inc()
            log.warning("audit sink: commit failed, records will be redelivered: %s", exc)
            return False
        finally:
            self.stats.seconds["commit"] += self.clock() - started
        self.metrics.commits.inc()
        return True

    def observe(self, checkpoint: Checkpoint, seconds: float) -> None:
        """Counts a checkpoint ClickHouse accepted (committed or not: the rows are stored)."""
        rejects = sum(checkpoint.rejects.values())
        for kind, n in checkpoint.rejects.items():
            self.metrics.rejected_records.labels(kind).inc(n)
        if checkpoint.oldest_event is not None:
            lag = (datetime.now(UTC) - checkpoint.oldest_event).total_seconds()
            self.metrics.lag_seconds.observe(max(0.0, lag))
        self.stats.rows += checkpoint.size - rejects
        self.stats.rejects += rejects
        self.stats.batches += 1
        self.metrics.batch_rows.observe(checkpoint.size)
        self.metrics.flush_seconds.observe(seconds)
