"""The gateway's one Kafka consumer: decisions (from the end) and task events (from the start).

Group-less with manual assignment: every gateway replica sees every decision, since the HTTP
request waiting on a decision lives in exactly one of them. Decision partitions are positioned
at their end *before* `ready` is set, and requests are only published once `ready` is set.
Read through the one log reader (`LogTail`), so a record a fetch skipped is read again where the
broker profile says fetches skip records: a skipped decision would leave its request waiting.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import ValidationError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    wait_exponential_jitter,
)

from schemas.decisions import AdmissionDecision
from schemas.limits import MAX_PAYLOAD_BYTES
from schemas.log_tail import LogTail
from schemas.settings import Settings
from schemas.tasks import TaskEvent
from schemas.wire import PayloadTooLarge, decode
from streams.gateway.decisions import DecisionWaiters
from streams.gateway.errors import FeedTopicMissing
from streams.gateway.metrics import GatewayMetrics
from streams.gateway.status import StatusBook

log = logging.getLogger(__name__)

RETRY_MIN_S = 0.5
RETRY_MAX_S = 5.0
#: What a reconnect can cure; anything else is a bug and ends the feed loudly.
_TRANSIENT = (KafkaError, OSError, FeedTopicMissing)


def reconnect_wait() -> wait_exponential_jitter:
    """Capped exponential backoff with jitter, so replicas that lost the broker together do not
    retry in lockstep."""
    return wait_exponential_jitter(multiplier=RETRY_MIN_S, max=RETRY_MAX_S, jitter=RETRY_MIN_S)


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
        """Reconnects until cancelled; `ready` is clear while disconnected.

        Failed connects back off exponentially with jitter (capped), so replicas that lost the
        broker together do not reconnect in lockstep; a session that had connected starts a
        fresh backoff when it drops.
        """
        while True:
            async for attempt in self._reconnecting():
                with attempt:
                    await self._session()
            await asyncio.sleep(RETRY_MIN_S + random.uniform(0, RETRY_MIN_S))

    def _reconnecting(self) -> AsyncRetrying:
        return AsyncRetrying(
            retry=retry_if_exception_type(_TRANSIENT),
            wait=reconnect_wait(),
            before_sleep=self._log_retry,
            reraise=True,
        )

    @staticmethod
    def _log_retry(state: RetryCallState) -> None:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        delay = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning("gateway feed: broker unavailable (%s); retrying in %.1fs", error, delay)

    async def _session(self) -> None:
        """One connection: raises if it cannot connect, returns when a connected session drops."""
        consumer = AIOKafkaConsumer(
            **self.settings.broker.consumer_kwargs(
                self.settings.kafka_bootstrap,
                None,
                request_timeout_ms=int(self.settings.gateway_publish_timeout_s * 1000) + 1000,
                max_partition_fetch_bytes=MAX_PAYLOAD_BYTES * 16,
            )
        )
        tail = LogTail(consumer, self.settings.broker)
        try:
            await consumer.start()
            await self._position(tail)
            self.ready.set()
            try:
                await self._consume(tail)
            except _TRANSIENT as exc:
                log.warning("gateway feed: connection lost (%s); reconnecting", exc)
        finally:
            self.ready.clear()
            await consumer.stop()

    async def _position(self, tail: LogTail) -> None:
        consumer = tail.consumer
        await consumer.topics()  # refreshes metadata so partitions_for_topic answers
        wanted = [*self._decision_topics, self._task_topic]
        partitions: list[TopicPartition] = []
        for topic in wanted:
            found = consumer.partitions_for_topic(topic)
            if not found:
                raise FeedTopicMissing(
                    f"topic {topic} does not exist (run `framegate topics create`)"
                )
            partitions += [TopicPartition(topic, p) for p in sorted(found)]
        consumer.assign(partitions)
        decision_tps = [tp for tp in partitions if tp.topic in self._decision_topics]
        await consumer.seek_to_end(*decision_tps)
        await tail.seek_to_beginning([tp for tp in partitions if tp.topic == self._task_topic])
        for tp in decision_tps:
            # resolves "end" now, not lazily after publishing
            tail.seek(tp, await consumer.position(tp))

    async def _consume(self, tail: LogTail) -> None:
        while True:
            batches = await tail.fetch(timeout_ms=500, max_records=500)
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
