"""The one publish/observe harness of the integration tests: records onto the real broker, and
the logs read back (event topics decoded, any topic as records).

The broker profile is the test run's (`tests.backends.broker_profile`): the local broker's by
default, `kafka` where `make test-docker` points the suite at Apache Kafka. Every producer and
consumer a test needs is built here from that profile; a test whose subject is a client itself
(authentication, a consumer handed to the product) is listed in `tests/unit/test_one_test_harness.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import RecordMetadata
from pydantic import BaseModel

from schemas import (
    AdmissionDecision,
    LaneEvent,
    MemoryDiagnosticEvent,
    TaskEvent,
    TaskStatus,
    Topics,
)
from schemas.wire import decode
from tests.backends import broker_profile

PROFILE = broker_profile()

#: (topic, key, value) as it goes on the wire (a None value is a tombstone).
Record = tuple[str, bytes | None, bytes | None]


class Placed(NamedTuple):
    """A record pinned to a partition and/or stamped with its log time."""

    topic: str
    key: bytes | None
    value: bytes | None
    partition: int | None = None
    timestamp_ms: int | None = None


class Publisher:
    """One producer of the run's profile; what `send` queued is acknowledged when `publishing` ends."""

    def __init__(self, producer: AIOKafkaProducer, one_at_a_time: bool) -> None:
        self.producer = producer
        self.one_at_a_time = one_at_a_time
        self.deliveries: list[asyncio.Future[RecordMetadata]] = []

    async def send(self, record: Record | Placed, *, partition: int | None = None,
                   timestamp_ms: int | None = None) -> None:
        """Queue `record` (wait for it when publishing one at a time); a `Placed` record's own
        partition and time win over the arguments."""
        delivery = await self._send(record, partition, timestamp_ms)
        if self.one_at_a_time:
            await delivery
        else:
            self.deliveries.append(delivery)

    async def acknowledged(self, record: Record | Placed, *, partition: int | None = None) -> RecordMetadata:
        """Send `record` and wait for the broker's answer (its offset among others)."""
        return await (await self._send(record, partition, None))

    async def _send(self, record: Record | Placed, partition: int | None,
                    timestamp_ms: int | None) -> asyncio.Future[RecordMetadata]:
        placed = record if isinstance(record, Placed) else Placed(*record)
        return await self.producer.send(
            placed.topic, placed.value, key=placed.key,
            partition=placed.partition if placed.partition is not None else partition,
            timestamp_ms=placed.timestamp_ms if placed.timestamp_ms is not None else timestamp_ms,
        )


@contextlib.asynccontextmanager
async def publishing(bootstrap: str, *, one_at_a_time: bool = False) -> AsyncIterator[Publisher]:
    """A `Publisher` for the block; every record it queued is acknowledged when the block ends.
    `one_at_a_time` waits for each before the next (one record per batch, no lingering), for
    logs whose readers rely on the broker's end offset."""
    extra = {"linger_ms": 0} if one_at_a_time else {}
    producer = AIOKafkaProducer(**PROFILE.producer_kwargs(bootstrap, **extra))
    await producer.start()
    try:
        publisher = Publisher(producer, one_at_a_time)
        yield publisher
        await asyncio.gather(*publisher.deliveries)
    finally:
        await producer.stop()


async def publish(
    bootstrap: str,
    records: Iterable[Record | Placed],
    *,
    partition: int | None = None,
    one_at_a_time: bool = False,
    timestamp_ms: int | None = None,
) -> None:
    """Send every record in order and wait until all are acknowledged. `partition` and
    `timestamp_ms` apply to the records that do not carry their own (`Placed`)."""
    async with publishing(bootstrap, one_at_a_time=one_at_a_time) as publisher:
        for record in records:
            await publisher.send(record, partition=partition, timestamp_ms=timestamp_ms)


# --- reading logs back -----------------------------------------------------------------------

@dataclass(frozen=True)
class Logged:
    """One record read back from a log."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    raw: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()

    @functools.cached_property
    def value(self) -> Any:
        """The value as JSON (every framegate message is JSON on the wire)."""
        return json.loads(self.raw) if self.raw is not None else None


class LogReader:
    """Every partition of some topics, read from a fixed position, no consumer group."""

    def __init__(self, consumer: AIOKafkaConsumer, parts: list[TopicPartition]) -> None:
        self.consumer = consumer
        self.parts = parts
        self.found: list[Logged] = []

    async def fetch(self, timeout_ms: int = 200) -> bool:
        """One fetch; True when it returned records."""
        batch = await self.consumer.getmany(timeout_ms=timeout_ms)
        for tp in sorted(batch, key=lambda tp: (tp.topic, tp.partition)):
            self.found.extend(Logged(tp.topic, tp.partition, r.offset, r.timestamp, r.key, r.value,
                                     tuple(r.headers)) for r in batch[tp])
        return any(batch.values())

    async def until(self, enough: Callable[[list[Logged]], bool], timeout_s: float = 60.0) -> list[Logged]:
        """Read until `enough(everything read)` holds, failing after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while not enough(self.found):
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met after {len(self.found)} records on {self.parts}")
            await self.fetch()
        return self.found

    async def to_end(self, timeout_s: float = 60.0) -> list[Logged]:
        """Read on to the end offsets of this moment, and past them until a fetch finds nothing
        (the local broker may report an end that is too low)."""
        deadline = time.monotonic() + timeout_s
        ends = await self.consumer.end_offsets(self.parts)
        while True:
            if time.monotonic() > deadline:
                raise AssertionError(f"the end of {self.parts} not reached after {len(self.found)} records")
            if not await self.fetch():
                positions = [await self.consumer.position(tp) for tp in self.parts]
                if all(pos >= ends[tp] for pos, tp in zip(positions, self.parts, strict=True)):
                    return self.found


@contextlib.asynccontextmanager
async def reading(bootstrap: str, topics: Iterable[str], *, from_end: bool = False) -> AsyncIterator[LogReader]:
    """A `LogReader` of every partition of `topics`, from the beginning, or from their end now
    (`from_end`: what is published after this point)."""
    consumer = AIOKafkaConsumer(**PROFILE.consumer_kwargs(bootstrap, None))
    await consumer.start()
    try:
        await consumer.topics()  # loads every topic's partitions into the metadata
        parts = []
        for topic in topics:
            partitions = consumer.partitions_for_topic(topic)
            assert partitions, f"no topic {topic} on the broker"
            parts += [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(parts)
        if from_end:
            await consumer.seek_to_end(*parts)
            for tp in parts:
                await consumer.position(tp)  # the end is fixed now, before the caller publishes
        else:
            await consumer.seek_to_beginning(*parts)
        yield LogReader(consumer, parts)
    finally:
        await consumer.stop()


async def read_log(bootstrap: str, topics: Iterable[str], enough: Callable[[list[Logged]], bool],
                   timeout_s: float = 60.0) -> list[Logged]:
    """Every record of `topics` until `enough(records)` holds, then on to the end offsets at that
    moment, so a late duplicate already in the log is read too."""
    async with reading(bootstrap, topics) as reader:
        await reader.until(enough, timeout_s)
        return await reader.to_end(timeout_s)


async def read_all(bootstrap: str, topics: Iterable[str], timeout_s: float = 60.0) -> list[Logged]:
    """Every record of `topics` up to their end now."""
    async with reading(bootstrap, topics) as reader:
        return await reader.to_end(timeout_s)


async def collect(bootstrap: str, topics: Iterable[str], count: int, timeout_s: float = 60.0) -> list[tuple[str, Any]]:
    """(topic, JSON value) of at least the first `count` records of `topics` (in per-partition log
    order), failing after `timeout_s`."""
    async with reading(bootstrap, topics) as reader:
        found = await reader.until(lambda rs: len(rs) >= count, timeout_s)
    return [(r.topic, r.value) for r in found]


async def committed(bootstrap: str, group: str, topics: Iterable[str]) -> dict[TopicPartition, int]:
    """`group`'s committed offset on every partition of `topics` (0 before its first commit)."""
    consumer = AIOKafkaConsumer(**PROFILE.consumer_kwargs(bootstrap, group))
    await consumer.start()
    try:
        await consumer.topics()  # loads every topic's partitions into the metadata
        offsets = {}
        for topic in topics:
            for p in sorted(consumer.partitions_for_topic(topic) or ()):
                tp = TopicPartition(topic, p)
                offsets[tp] = await consumer.committed(tp) or 0
        return offsets
    finally:
        await consumer.stop()


# --- the event topics, decoded ---------------------------------------------------------------

@dataclass
class Observed:
    """Every event a test has seen so far, decoded."""

    tasks: list[TaskEvent] = field(default_factory=list)
    memory: list[MemoryDiagnosticEvent] = field(default_factory=list)
    lanes: list[LaneEvent] = field(default_factory=list)

    def statuses(self, task_id: str) -> list[TaskStatus]:
        return [e.task.status for e in self.tasks if e.task_id == task_id]

    def terminal(self, task_id: str) -> list[TaskEvent]:
        return [e for e in self.tasks if e.task_id == task_id and e.task.status in (TaskStatus.done, TaskStatus.failed)]

    def ended(self, task_ids: list[str]) -> bool:
        return all(self.terminal(t) for t in task_ids)


@contextlib.asynccontextmanager
async def observing(bootstrap: str, topics: Topics) -> AsyncIterator[Observed]:
    """Reads events.task/memory/lane from the beginning while the body runs."""
    seen = Observed()
    decoders: dict[str, Callable[[bytes], None]] = {
        topics.events_task: lambda raw: seen.tasks.append(decode(TaskEvent, raw)),
        topics.events_memory: lambda raw: seen.memory.append(decode(MemoryDiagnosticEvent, raw)),
        topics.events_lane: lambda raw: seen.lanes.append(decode(LaneEvent, raw)),
    }
    async with reading(bootstrap, decoders) as reader:

        async def follow() -> None:
            while True:
                read = len(reader.found)
                await reader.fetch(100)
                for r in reader.found[read:]:
                    assert r.raw is not None
                    decoders[r.topic](r.raw)

        task = asyncio.create_task(follow())
        try:
            yield seen
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


# --- from a test that runs no event loop of its own --------------------------------------------

def publish_now(bootstrap: str, records: Iterable[Record | Placed], **options: Any) -> None:
    asyncio.run(publish(bootstrap, records, **options))


def publish_events(bootstrap: str, topic: str, events: Iterable[BaseModel], key: str, partition: int = 0) -> None:
    """Wire messages onto `topic` under one key, in order, acknowledged."""
    publish_now(bootstrap, [(topic, key.encode(), e.model_dump_json().encode()) for e in events], partition=partition)


def committed_offset(bootstrap: str, group: str, topic: str, partition: int = 0) -> int:
    """`group`'s committed offset on one partition of `topic` (0 before its first commit)."""
    return asyncio.run(committed(bootstrap, group, [topic]))[TopicPartition(topic, partition)]


def decided_topics(topics: Topics) -> list[str]:
    return [topics.tasks_accepted, topics.tasks_rejected]


def decisions(bootstrap: str, topics: Topics, count: int, timeout_s: float = 60.0) -> list[AdmissionDecision]:
    """At least the first `count` decisions (accepted, then rejected), decoded."""
    got = asyncio.run(collect(bootstrap, decided_topics(topics), count, timeout_s))
    return [AdmissionDecision.model_validate(value) for _, value in got]
