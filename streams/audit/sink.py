"""`framegate audit-sink`: every audited topic into ClickHouse, at least once, collapsing on event_id.

Per batch: poll Kafka -> map rows (pure, `rows.to_row`) -> checkpoint (`checkpoint.py`: insert per
table, then commit offsets). Offsets are committed only after every table of the batch was
accepted, so a crash or a refused insert means redelivery, never loss; copies collapse on event_id.

One checkpoint is in flight while the next batch is fetched and mapped; the next one starts only
after the previous one committed, so commits stay in order. When ClickHouse refuses, the writer
raises `SinkBackpressureError`: the sink keeps that checkpoint, pauses every assigned partition
and keeps polling (the group keeps its member, a stop is honoured), then retries after the
error's `retry_after` (exponential with jitter). A full buffer pauses the partitions the same way.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from tenacity import AsyncRetrying, RetryCallState, RetryError, retry_if_exception_type

from schemas.acknowledged_commits import commit_after
from schemas.broker_profile import BrokerProfile
from schemas.log_tail import LogTail
from schemas.topics import Topics
from streams.audit.batching import Batcher
from streams.audit.checkpoint import Checkpoint, CheckpointStep, SinkStats
from streams.audit.errors import SinkBackpressureError
from streams.audit.metrics import SinkMetrics
from streams.audit.migrations import check_database_name
from streams.audit.rows import MappedRow, Source, build_row, decode_record, routes
from streams.audit.writer import Backoff, ClickHouseWriter
from streams.clickhouse_client import connect

__all__ = ["AuditSink", "SinkConfig", "SinkStats", "sink_from_settings"]

log = logging.getLogger("framegate.audit.sink")

#: Longest a loop turn waits, so a stop or a due retry is seen promptly.
_TURN_S = 0.2
#: On stop, how long the checkpoint in flight may still take before the sink gives up on it.
_STOP_GRACE_S = 10.0


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
    #: once a poll finds nothing more to read, a batch this old is flushed without waiting for
    #: `batch_max_seconds` (live traffic: rows visible soon, not at the age bound); every flush
    #: is an insert per table, and each insert a part ClickHouse merges later
    batch_linger_s: float = 0.25
    retry_initial_s: float = 0.5
    retry_max_s: float = 30.0
    #: with a key, prompts and rejected payloads are stored as keyed hashes (`prompt_privacy`)
    prompt_key: bytes | None = field(default=None, repr=False)


class _Revocations(ConsumerRebalanceListener):
    """Uncommitted records of revoked partitions are redelivered to their next owner."""

    def __init__(self, sink: AuditSink) -> None:
        self.sink = sink

    async def on_partitions_revoked(self, revoked: Any) -> None:
        self.sink.forget_uncommitted()

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
        self._routes = routes(self.config.topics, self.config.prompt_key)
        self._batcher: Batcher[MappedRow] = Batcher(self.config.batch_max_rows, self.config.batch_max_seconds)
        self._backoff = Backoff(self.config.retry_initial_s, self.config.retry_max_s)
        self._client: Any = None
        #: next offset per partition of the records in the batcher
        self._offsets: dict[TopicPartition, int] = {}
        self._generation = 0
        self._inflight: asyncio.Task[None] | None = None
        self._inflight_checkpoint: Checkpoint | None = None
        #: a checkpoint ClickHouse refused, retried at `_resume_at`
        self._held: Checkpoint | None = None
        self._resume_at = 0.0
        #: the last poll read live traffic and got less than it asked for: nothing more was waiting
        self._caught_up = False
        #: how the audited logs are read (contiguous fetches, see `schemas.log_tail`); set by `run`
        self._tail: LogTail | None = None

    # --- edges -------------------------------------------------------------------------------
    async def _wait_or_stop(self, stop: asyncio.Event, seconds: float) -> None:
        try:
            await asyncio.wait_for(stop.wait(), timeout=seconds)
        except TimeoutError:
            return

    async def _connect_clickhouse(self, stop: asyncio.Event) -> bool:
        def note(state: RetryCallState) -> None:
            self._note_failure(f"connect: {state.outcome.exception() if state.outcome else '?'}")

        retrying = AsyncRetrying(
            wait=self._backoff.wait,
            retry=retry_if_exception_type(Exception),  # a server that is down must not kill the sink
            stop=lambda _state: stop.is_set(),
            sleep=lambda seconds: self._wait_or_stop(stop, seconds),
            before_sleep=note,
        )
        try:
            self._client = await retrying(asyncio.to_thread, connect, self.config.dsn)
        except RetryError:
            return False
        return True

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
        consumer.subscribe(cfg.topics.audited(), listener=_Revocations(self))
        self._tail = LogTail(consumer, cfg.broker)
        await consumer.start()
        writer = ClickHouseWriter(self._client, cfg.database, self._backoff)
        step = CheckpointStep(writer, consumer, self.metrics, self.stats)
        self.stats.consuming = True
        try:
            while not stop.is_set():
                await self.turn(consumer, step)
            await self._final(step)
        finally:
            self.stats.consuming = False
            if self._inflight is not None and not self._inflight.done():
                self._inflight.cancel()  # a crash: what it held is neither committed nor lost
            await consumer.stop()
            if self._client is not None:
                self._client.close()

    async def turn(self, consumer: AIOKafkaConsumer, step: CheckpointStep) -> None:
        """One turn of the sink's loop (a test wraps it to stop the sink at a chosen point)."""
        self._settle()
        now = self.clock()
        if self._inflight is None:
            if self._held is not None:
                if now >= self._resume_at:
                    self._start(self._held, step)
            elif self._due(now):
                self._start(self._drain(), step)
        if self._inflight is not None and not self._inflight.done():
            # one loop step lets a checkpoint just started hand its insert to the worker thread;
            # a poll whose records are already buffered returns without yielding, and its decode
            # would run before the insert began
            await asyncio.sleep(0)
        paused = self._apply_flow(consumer)
        started = time.perf_counter()
        if self._inflight is not None and (paused or self._due(now)):
            # nothing more to read until the checkpoint in flight settles; a zero-wait poll keeps
            # the group member alive
            await asyncio.wait({self._inflight}, timeout=_TURN_S)
            fetched = await consumer.getmany(timeout_ms=0)
        else:
            if self._held is not None:  # the buffer waits behind the held checkpoint
                wait_s = min(_TURN_S, max(0.0, self._resume_at - now))
            else:
                wait_s = min(_TURN_S, self._batcher.seconds_until_due(now))
                if len(self._batcher) and self._caught_up:
                    wait_s = min(wait_s, max(0.0, self.config.batch_linger_s - self._batcher.age(now)))
            room = max(1, self.config.batch_max_rows - len(self._batcher))
            fetched = await consumer.getmany(timeout_ms=int(wait_s * 1000), max_records=room)
            self._caught_up = self._live(fetched, room)
        self.stats.polls += 1
        self.stats.paused_polls += paused
        self.stats.seconds["fetch"] += time.perf_counter() - started
        assert self._tail is not None
        # contiguous: a record a fetch skipped is read again, so no event is left out of the tables
        self._accept(self._tail.take(fetched))

    def _live(self, fetched: dict[TopicPartition, list[Any]], room: int) -> bool:
        """Fewer records than asked for, and none older than the age bound: live traffic, not a
        backlog (whose batches fill up). Record timestamps, not high watermarks: tansu reports
        the latter wrong for multi-record batches."""
        if sum(len(records) for records in fetched.values()) >= room:
            return False
        oldest_live_ms = time.time() * 1000 - self.config.batch_max_seconds * 1000
        return all(records[0].timestamp >= oldest_live_ms for records in fetched.values())

    def _due(self, now: float) -> bool:
        """Full or old enough, or lingered long enough with nothing more to read."""
        return self._batcher.due_after_linger(now, self._caught_up, self.config.batch_linger_s)

    def _apply_flow(self, consumer: AIOKafkaConsumer) -> bool:
        """Pauses every assigned partition while a refused checkpoint waits or the buffer is full."""
        assigned = consumer.assignment()
        if self._held is not None or self._batcher.full():
            not_yet = assigned - consumer.paused()
            if not_yet:
                consumer.pause(*not_yet)
            return bool(assigned)
        paused = consumer.paused()
        if paused:
            consumer.resume(*paused)
        return False

    def _accept(self, fetched: dict[TopicPartition, Sequence[Any]]) -> None:
        if not fetched:
            return
        started = time.perf_counter()
        if self.stats.first_records_at is None:
            self.stats.first_records_at = time.monotonic()
        received = datetime.now(UTC)
        route, mapped, clock = self._routes, list[MappedRow](), time.perf_counter
        key = self.config.prompt_key
        decode_s = 0.0
        for tp, records in fetched.items():
            topic, partition = tp.topic, tp.partition
            for r in records:
                # one pass: a message is dropped as soon as its row is built (a batch of live
                # messages would make the collector's passes longer)
                source = Source(topic, partition, r.offset)
                decode_started = clock()
                message = decode_record(route, source, r.value, received, key)
                decode_s += clock() - decode_started
                mapped.append(message if isinstance(message, MappedRow)
                              else build_row(*message, source, r.value, received, key))
            self._offsets[tp] = records[-1].offset + 1
        self._batcher.extend(mapped, self.clock())
        self.metrics.pending_rows.set(len(self._batcher))
        self.stats.seconds["decode"] += decode_s
        self.stats.seconds["rows"] += clock() - started - decode_s

    def _drain(self) -> Checkpoint:
        offsets, self._offsets = self._offsets, {}
        return Checkpoint.build(self._batcher.drain(), offsets, self._generation)

    def forget_uncommitted(self) -> None:
        """On revocation: drop what is buffered or held; a checkpoint in flight will not commit."""
        self._generation += 1
        self._batcher.clear()
        self._offsets = {}
        if self._tail is not None:
            self._tail.forget()  # the next owner of a partition starts from its committed offset
        self._held = None
        self.metrics.pending_rows.set(0)

    # --- checkpoints -------------------------------------------------------------------------
    def _start(self, checkpoint: Checkpoint, step: CheckpointStep) -> None:
        self._held = None
        self._inflight_checkpoint = checkpoint
        self._inflight = asyncio.create_task(self._checkpoint(checkpoint, step))

    async def _checkpoint(self, checkpoint: Checkpoint, step: CheckpointStep) -> None:
        started = self.clock()

        async def commit() -> None:
            step.observe(checkpoint, self.clock() - started)
            if checkpoint.generation == self._generation:  # not revoked meanwhile
                await step.commit(checkpoint)

        await commit_after([step.flush(checkpoint)], commit)
        self.metrics.pending_rows.set(len(self._batcher))

    def _settle(self) -> None:
        task, checkpoint = self._inflight, self._inflight_checkpoint
        if task is None or checkpoint is None or not task.done():
            return
        self._inflight, self._inflight_checkpoint = None, None
        try:
            task.result()
        except SinkBackpressureError as exc:
            self._note_failure(str(exc))
            if checkpoint.generation == self._generation:
                self._held = checkpoint
                self._resume_at = self.clock() + exc.retry_after

    async def _final(self, step: CheckpointStep) -> None:
        """On stop: settle what is in flight, then one attempt for what is held and buffered."""
        if self._inflight is not None:
            done, _ = await asyncio.wait({self._inflight}, timeout=_STOP_GRACE_S)
            if not done:
                self._note_failure(f"stopping with an insert still running after {_STOP_GRACE_S:.0f} s: "
                                   "its records stay uncommitted (redelivered)")
                return
            self._settle()
        pending = [cp for cp in (self._held, self._drain() if len(self._batcher) else None) if cp is not None]
        self._held = None
        for checkpoint in pending:
            try:
                await self._checkpoint(checkpoint, step)
            except SinkBackpressureError as exc:
                self._note_failure(f"stopping with {checkpoint.size} records uncommitted (redelivered): {exc}")
                return


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
        batch_linger_s=settings.audit_batch_linger_s,
        retry_initial_s=settings.audit_retry_initial_s,
        retry_max_s=settings.audit_retry_max_s,
        prompt_key=settings.resolved_prompt_hmac_key(),
    )
    return AuditSink(config, metrics=metrics or SinkMetrics())
