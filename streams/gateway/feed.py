"""The gateway's one Kafka consumer: decisions (from the end) and task events (from the start).

Group-less with manual assignment: every gateway replica sees every decision, since the HTTP
request waiting on a decision lives in exactly one of them. Decision partitions are positioned
at their end *before* `ready` is set, and requests are only published once `ready` is set.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from schemas.decisions import AdmissionDecision
from schemas.limits import MAX_PAYLOAD_BYTES
from schemas.settings import Settings
from schemas.tasks import TaskEvent
from schemas.wire import PayloadTooLarge, decode
from streams.gateway.decisions import DecisionWaiters
from streams.gateway.metrics import GatewayMetrics
from streams.gateway.status import StatusBook

log = logging.getLogger(__name__)

_RETRY_MIN_S = 0.5
_RETRY_MAX_S = 5.0


class GatewayFeed:
    def __init__(
        self,
        settings: Settings,
        waiters: DecisionWaiters,
        book: StatusBook,
        metrics: GatewayMetrics,
    ) -> None:
        self.settings = settings
        self.waiters = waiters
        self.book = book
        self.metrics = metrics
        self.ready = asyncio.Event()
        topics = settings.topics
        self._decision_topics = {topics.tasks_accepted, topics.tasks_rejected}
        self._task_topic = topics.events_task
        self._handlers: dict[str, Callable[[bytes], None]] = {
            topics.tasks_accepted: self._on_decision,
            topics.tasks_rejected: self._on_decision,
            topics.events_task: self._on_task_event,
        }

    async def run(self) -> None:
        """Reconnects with bounded backoff until cancelled; `ready` is clear while disconnected."""
        delay = _RETRY_MIN_S
        while True:
            consumer = AIOKafkaConsumer(
                **self.settings.broker.consumer_kwargs(
                    self.settings.kafka_bootstrap,
                    None,
                    request_timeout_ms=int(self.settings.gateway_publish_timeout_s * 1000) + 1000,
                    max_partition_fetch_bytes=MAX_PAYLOAD_BYTES * 16,
                )
            )
            try:
                await consumer.start()
                await self._position(consumer)
                self.ready.set()
                delay = _RETRY_MIN_S
                await self._consume(consumer)
            except (KafkaError, OSError) as exc:
                log.warning("gateway feed: broker unavailable (%s); retrying in %.1fs", exc, delay)
            finally:
                self.ready.clear()
                await consumer.stop()
            await asyncio.sleep(delay)  # backoff between reconnects, not a synchronisation
            delay = min(delay * 2, _RETRY_MAX_S)

    async def _position(self, consumer: AIOKafkaConsumer) -> None:
        await consumer.topics()  # refreshes metadata so partitions_for_topic answers
        wanted = [*self._decision_topics, self._task_topic]
        partitions: list[TopicPartition] = []
        for topic in wanted:
            found = consumer.partitions_for_topic(topic)
            if not found:
                raise KafkaError(f"topic {topic} does not exist (run `framegate topics create`)")
            partitions += [TopicPartition(topic, p) for p in sorted(found)]
        consumer.assign(partitions)
        decision_tps = [tp for tp in partitions if tp.topic in self._decision_topics]
        await consumer.seek_to_end(*decision_tps)
        await consumer.seek_to_beginning(*[tp for tp in partitions if tp.topic == self._task_topic])
        for tp in decision_tps:
            await consumer.position(tp)  # resolves "end" now, not lazily after publishing

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=500)
            for tp, records in batches.items():
                handler = self._handlers[tp.topic]
                for record in records:
                    if record.value is not None:
                        handler(record.value)

    def _on_decision(self, payload: bytes) -> None:
        try:
            decision = decode(AdmissionDecision, payload)
        except (ValidationError, PayloadTooLarge):
            log.warning("gateway feed: skipped an invalid AdmissionDecision")
            return
        self.metrics.feed_records.labels(kind="decision").inc()
        self.waiters.resolve(decision)
        self.book.apply_decision(decision)
        self.metrics.tracked_tasks.set(len(self.book))

    def _on_task_event(self, payload: bytes) -> None:
        try:
            event = decode(TaskEvent, payload)
        except (ValidationError, PayloadTooLarge):
            log.warning("gateway feed: skipped an invalid TaskEvent")
            return
        self.metrics.feed_records.labels(kind="task_event").inc()
        self.book.apply_task_event(event)
        self.metrics.tracked_tasks.set(len(self.book))
