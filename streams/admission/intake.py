"""Records of one topic handed from the Faust consumer to a batch loop, a fetch at a time.

Faust brings each record to an agent on its own: a channel queue, an event, the stream's
processors and an ack, several event-loop steps per record. For `tasks.requested` that path cost
more than deciding the request (bench/admission_throughput.py prints both), so the consumer's
drain loop (`faust_transport`) appends a whole fetch here instead, and admission takes what has
arrived as one batch. Records stay tracked by the consumer until the loop acks them, so commits,
rebalances and shutdown wait for them as they wait for an agent's.
"""

from __future__ import annotations

import asyncio
from collections import deque

from faust.types import Message


class RecordIntake:
    """A bounded FIFO of consumer records, filled by fetch and drained by batch.

    `limit` bounds what waits here: over it, the drain loop stops fetching until a batch is
    taken (back-pressure, as a full agent buffer gives). `clear` drops everything waiting: Faust's
    flow control calls it when partitions are revoked and when the flow resumes after a
    rebalance, which reads again from the committed offsets, so nothing dropped is lost.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.records: deque[Message] = deque()
        self.arrived = asyncio.Event()
        self.room = asyncio.Event()
        self.room.set()
        #: Moves on every `clear`: a batch taken before it may hold records no longer ours.
        self.generation = 0
        self._cleared = asyncio.Event()

    def __len__(self) -> int:
        return len(self.records)

    def put_many(self, records: list[Message]) -> None:
        self.records.extend(records)
        self.arrived.set()
        if len(self.records) >= self.limit:
            self.room.clear()

    async def take(self, most: int) -> list[Message]:
        """Everything waiting, up to `most` records, once at least one is there."""
        while not self.records:
            self.arrived.clear()
            await self.arrived.wait()
        records = self.records
        batch = [records.popleft() for _ in range(min(most, len(records)))]
        if len(records) < self.limit:
            self.room.set()
        return batch

    def clear(self) -> None:
        self.records.clear()
        self.generation += 1
        self.room.set()
        self._cleared.set()
        self._cleared = asyncio.Event()

    async def cleared_since(self, generation: int) -> None:
        """Return once the intake was cleared after `generation` was read."""
        if self.generation == generation:
            await self._cleared.wait()
