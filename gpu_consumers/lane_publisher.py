"""Where the lane worker's events go, and how their deliveries are kept.

Task events are keyed by task, memory and lane events by lane. Where the broker profile asks
for single-record batches (the ledger's catch-up reads the broker's end offset, which the local
broker reports wrongly for multi-record batches), at most one task event of this worker is
unacknowledged at a time and the producer does not linger; other brokers batch normally.

Events from the job thread (memory events, model loads) are sent while the job goes on; their
deliveries are collected here and awaited before the job's offset commits (`take_pending`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable
from typing import Any

from aiokafka import AIOKafkaProducer

from gpu_consumers.shutdown import until_stopped
from schemas.broker_profile import BrokerProfile
from schemas.enums import RouteLane
from schemas.envelope import Envelope
from schemas.lane import LaneEvent
from schemas.memory import MemoryDiagnosticEvent
from schemas.tasks import TaskEvent
from schemas.topics import Topics


def producer_config(profile: BrokerProfile, bootstrap: str) -> dict[str, Any]:
    """The worker's producer: no lingering where the profile needs single-record batches."""
    linger = {"linger_ms": 0} if profile.single_record_changelog_batches else {}
    return profile.producer_kwargs(bootstrap, **linger)


class LanePublisher:
    def __init__(self, lane: RouteLane, topics: Topics, single_record_batches: bool) -> None:
        self.lane = lane
        self.topics = topics
        self.single_record_batches = single_record_batches
        self.stop = asyncio.Event()
        self.producer: AIOKafkaProducer | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task_delivery: asyncio.Future[object] | None = None
        self.pending: list[concurrent.futures.Future[None]] = []

    def open(self, producer: AIOKafkaProducer, stop: asyncio.Event) -> None:
        """Bind the producer and the stop event of a run, on the running event loop."""
        self.producer = producer
        self.stop = stop
        self.loop = asyncio.get_running_loop()

    async def publish(self, event: Envelope) -> None:
        delivery = await self.send(event)
        await until_stopped(asyncio.shield(delivery), self.stop)

    async def send(self, event: Envelope) -> asyncio.Future[object]:
        """Hand the event to the producer; the returned future resolves once it is delivered."""
        assert self.producer is not None
        if isinstance(event, TaskEvent):
            topic, key = self.topics.events_task, event.task_id
            if self.single_record_batches and self.task_delivery is not None:
                # One unacknowledged task event at a time: single-record batches, in order.
                await until_stopped(asyncio.shield(self.task_delivery), self.stop)
        elif isinstance(event, MemoryDiagnosticEvent):
            topic, key = self.topics.events_memory, self.lane.value
        elif isinstance(event, LaneEvent):
            topic, key = self.topics.events_lane, self.lane.value
        else:  # pragma: no cover - a programming error, not input
            raise TypeError(f"no topic for {type(event).__name__}")
        delivery: asyncio.Future[object] = await self.producer.send(topic, event.to_wire(), key=key.encode())
        if isinstance(event, TaskEvent):
            self.task_delivery = delivery
        return delivery

    def emit_from_thread(self, event: Envelope) -> None:
        """From the job thread: sent while the job goes on (not waited on there)."""
        if self.loop is None:
            return  # no run yet: nothing to publish on
        self.pending.append(asyncio.run_coroutine_threadsafe(self.publish(event), self.loop))

    def take_pending(self) -> list[Awaitable[object]]:
        """The deliveries of the events sent from the job thread since the last call."""
        pending, self.pending = self.pending, []
        deliveries: list[Awaitable[object]] = []
        for future in pending:
            delivery: asyncio.Future[None] = asyncio.wrap_future(future)
            deliveries.append(delivery)
        return deliveries
