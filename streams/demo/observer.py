"""Follows the decision and event topics from the beginning and folds them into a `Tally`
(through the one log reader, `LogTail`: what the demo shows misses no record a fetch skipped)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import BaseModel, ValidationError

from schemas import AdmissionDecision, LaneEvent, MemoryDiagnosticEvent, TaskEvent
from schemas.broker_profile import BrokerProfile
from schemas.log_tail import LogTail
from schemas.topics import Topics
from schemas.wire import PayloadTooLarge, decode
from streams.demo.tally import Tally


class Observer:
    def __init__(self, bootstrap: str, topics: Topics, profile: BrokerProfile) -> None:
        self.tally = Tally()
        self.undecodable = 0
        self._models: dict[str, type[BaseModel]] = {
            topics.tasks_accepted: AdmissionDecision,
            topics.tasks_rejected: AdmissionDecision,
            topics.events_task: TaskEvent,
            topics.events_lane: LaneEvent,
            topics.events_memory: MemoryDiagnosticEvent,
        }
        self._tail = LogTail(AIOKafkaConsumer(
            **profile.consumer_kwargs(bootstrap, group_id=None, enable_auto_commit=False)
        ), profile)
        self._task: asyncio.Task[None] | None = None
        self.changed = asyncio.Event()

    async def start(self) -> None:
        consumer = self._tail.consumer
        await consumer.start()
        partitions = [
            TopicPartition(topic, p)
            for topic in self._models
            for p in sorted(consumer.partitions_for_topic(topic) or {0})
        ]
        consumer.assign(partitions)
        await self._tail.seek_to_beginning(partitions)
        self._task = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        while True:
            batches = await self._tail.fetch(timeout_ms=100, max_records=2000)
            for tp, records in batches.items():
                model = self._models[tp.topic]
                for record in records:
                    self._apply(model, record.value)
            if batches:
                self.changed.set()

    def _apply(self, model: type[BaseModel], value: Any) -> None:
        try:
            message = decode(model, value or b"")
        except (ValidationError, PayloadTooLarge):
            self.undecodable += 1
            return
        self.tally.apply(message)  # type: ignore[arg-type]

    async def stop(self) -> None:
        """Stops following; a second call does nothing."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._tail.consumer.stop()
