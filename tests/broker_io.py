"""The one publish/observe harness of the integration tests: records onto the real broker, and
the event topics read back, decoded.

The broker profile is the test run's (`tests.backends.broker_profile`): the local broker's by
default, `kafka` where `make test-docker` points the suite at Apache Kafka.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from schemas import LaneEvent, MemoryDiagnosticEvent, TaskEvent, TaskStatus, Topics
from schemas.wire import decode
from tests.backends import broker_profile

PROFILE = broker_profile()

#: (topic, key, value) as it goes on the wire (a None value is a tombstone).
Record = tuple[str, bytes | None, bytes | None]


async def publish(
    bootstrap: str,
    records: Iterable[Record],
    *,
    partition: int | None = None,
    one_at_a_time: bool = False,
    timestamp_ms: int | None = None,
) -> None:
    """Send every record in order and wait until all are acknowledged. `partition` pins them to
    one partition; `one_at_a_time` waits for each before the next (one record per batch, no
    lingering), for logs whose readers rely on the broker's end offset."""
    extra = {"linger_ms": 0} if one_at_a_time else {}
    producer = AIOKafkaProducer(**PROFILE.producer_kwargs(bootstrap, **extra))
    await producer.start()
    try:
        deliveries = []
        for topic, key, value in records:
            delivery = await producer.send(topic, value, key=key, partition=partition, timestamp_ms=timestamp_ms)
            if one_at_a_time:
                await delivery
            else:
                deliveries.append(delivery)
        await asyncio.gather(*deliveries)
    finally:
        await producer.stop()


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
    consumer = AIOKafkaConsumer(
        topics.events_task, topics.events_memory, topics.events_lane,
        **PROFILE.consumer_kwargs(bootstrap, None),
    )
    await consumer.start()
    seen = Observed()

    async def follow() -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=100)
            for messages in batches.values():
                for m in messages:
                    assert m.value is not None
                    if m.topic == topics.events_task:
                        seen.tasks.append(decode(TaskEvent, m.value))
                    elif m.topic == topics.events_memory:
                        seen.memory.append(decode(MemoryDiagnosticEvent, m.value))
                    else:
                        seen.lanes.append(decode(LaneEvent, m.value))

    task = asyncio.create_task(follow())
    try:
        yield seen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await consumer.stop()
