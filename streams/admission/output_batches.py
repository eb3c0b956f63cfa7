"""Admission outputs gathered into one record batch per topic-partition, submitted on `flush`.

`AIOKafkaProducer.send` pays per record (a future, the partitioner, the accumulator), and a
decision writes two or three records, so at saturation the per-record path is a visible share of
the agent's CPU. Here a record is appended to an open `BatchBuilder` (keyed records keep the default
murmur2 placement, so lane-topic partitioning is unchanged) and the batches are handed to the
producer in append order under one lock, which keeps every partition's order.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner


class OutputBatches:
    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer
        self.partitioner = DefaultPartitioner()
        self.partitions: dict[str, list[int]] = {}
        self.open: dict[tuple[str, int], Any] = {}
        #: Full batches waiting for `flush`, in the order they filled.
        self.full: list[tuple[str, int, Any]] = []
        #: Delivery futures of submitted batches not yet known to be acknowledged.
        self.pending: list[asyncio.Future[Any]] = []
        self.lock = asyncio.Lock()

    async def resolve(self, topics: list[str]) -> None:
        """Look up the partitions of every topic admission writes, once, before the first `add`:
        `add` then stays synchronous (it runs two or three times per decision)."""
        for topic in topics:
            self.partitions[topic] = sorted(await self.producer.partitions_for(topic))

    def partition(self, topic: str, key: bytes | None) -> int:
        parts = self.partitions.get(topic)
        if parts is None:
            raise LookupError(f"admission writes to {topic}, which was not resolved at start")
        if len(parts) == 1:
            return parts[0]
        return int(self.partitioner(key, parts, parts))

    def add(self, topic: str, key: bytes | None, value: bytes) -> None:
        tp = (topic, self.partition(topic, key))
        builder = self.open.get(tp)
        if builder is None:
            builder = self.open[tp] = self.producer.create_batch()
        if builder.append(timestamp=None, key=key, value=value) is None:
            self.full.append((*tp, builder))
            builder = self.open[tp] = self.producer.create_batch()
            builder.append(timestamp=None, key=key, value=value)  # an empty batch takes any record

    @property
    def queued(self) -> int:
        return len(self.full) + len(self.open)

    async def flush(self) -> None:
        """Submit every batch and wait until all submitted so far (by any caller) are acknowledged."""
        async with self.lock:
            batches, self.full = [*self.full, *((t, p, b) for (t, p), b in self.open.items())], []
            self.open = {}
            for topic, partition, builder in batches:
                self.pending.append(await self.producer.send_batch(builder, topic, partition=partition))
        waiting = list(self.pending)
        if waiting:
            await asyncio.gather(*waiting)
            self.pending = [f for f in self.pending if not f.done()]
