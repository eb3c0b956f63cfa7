"""Follows the decision and event topics from the beginning and folds them into a `Tally`."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import BaseModel, ValidationError

from schemas import AdmissionDecision, LaneEvent, MemoryDiagnosticEvent, TaskEvent
from schemas.broker_profile import BrokerProfile
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
        self._consumer = AIOKafkaConsumer(
            **profile.consumer_kwargs(bootstrap, group_id=None, enable_auto_commit=False)
        )
        self._task: asyncio.Task[None] | None = None
        self.changed = asyncio.Event()

    async def start(self) -> None:
        await self._consumer.start()
        partitions = [
            TopicPartition(topic, p)
            for topic in self._models
            for p in sorted(self._consumer.partitions_for_topic(topic) or {0})
        ]
        self._consumer.assign(partitions)
        await self._consumer.seek_to_beginning(*partitions)
        self._task = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=100, max_records=2000)
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
        await self._consumer.stop()
