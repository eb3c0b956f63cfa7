"""Writes accepted-for-admission requests to `tasks.requested`, keyed by task_id, bounded in time."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from schemas.requests import GenerationRequest
from schemas.settings import Settings
from streams.gateway.errors import BrokerUnavailable

log = logging.getLogger(__name__)

__all__ = ["BrokerUnavailable", "RequestPublisher"]


class RequestPublisher:
    """Starts its producer lazily so the gateway comes up (and keeps answering 401s) with no broker."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        self._last_publish_failed = False

    @property
    def connected(self) -> bool:
        """The producer started and the last publish (if any) was taken by the broker."""
        return self._producer is not None and not self._last_publish_failed

    async def _ensure(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                timeout_ms = int(self.settings.gateway_publish_timeout_s * 1000)
                producer = AIOKafkaProducer(
                    **self.settings.broker.producer_kwargs(
                        self.settings.kafka_bootstrap, request_timeout_ms=timeout_ms
                    )
                )
                try:
                    await asyncio.wait_for(
                        producer.start(), self.settings.gateway_publish_timeout_s
                    )
                except (KafkaError, OSError, TimeoutError) as exc:
                    await producer.stop()
                    raise BrokerUnavailable(str(exc) or type(exc).__name__) from exc
                self._producer = producer
            return self._producer

    async def publish(self, request: GenerationRequest) -> None:
        producer = await self._ensure()
        try:
            await asyncio.wait_for(
                producer.send_and_wait(
                    self.settings.topics.tasks_requested,
                    value=request.to_wire(),
                    key=request.task_id.encode(),
                ),
                self.settings.gateway_publish_timeout_s,
            )
        except (KafkaError, OSError, TimeoutError) as exc:
            self._last_publish_failed = True
            raise BrokerUnavailable(str(exc) or type(exc).__name__) from exc
        self._last_publish_failed = False

    async def start_quietly(self) -> None:
        try:
            await self._ensure()
        except BrokerUnavailable as exc:
            log.warning(
                "gateway: broker not reachable at startup (%s); will retry per request", exc
            )

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()
