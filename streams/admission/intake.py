"""`tasks.requested` read by a plain aiokafka consumer group: batches in, commits after the outputs.

Why not a Faust agent (`@app.agent` + `stream.take_events`), on the faust-streaming release
pinned in pyproject.toml (the newest there is):
- its aiokafka driver builds the worker consumer with a fixed `fetch_max_wait_ms=1500`; no
  setting, broker URL option or public class attribute changes it, only its private methods
  (`_create_worker_consumer`, `_new_consumer_thread`) or aiokafka's private `_fetch_max_wait_ms`
  would. tansu does not answer a waiting fetch early, so an agent there would see an idle
  partition's next request up to that wait late;
- the hole guard needs to hold commits below a skipped record. Faust's fetch loop records a
  skipped range as a gap, and a commit counts gaps below the highest acked offset as acked,
  while `take_events` acks its whole batch when the agent asks for the next: once any later
  request of the batch is acked, a commit can pass the skipped one, and a crash then loses it.
aiokafka's public consumer takes the broker profile's fetch wait as it is and commits only what
it is told, and its public API is all this needs: a group subscription with a
`ConsumerRebalanceListener` (one owner of the one partition: active and standby), `getmany`,
`seek` and `commit`. Faust keeps the process: worker, signals, web pages, timers
(see `faust_transport`).

The intake never commits past an undecided request:
- `commit` writes only the offsets `decided` recorded, and the service calls that once a
  batch's outputs are acknowledged;
- a fetch that skipped records (tansu, `BrokerProfile.fetch_skips_records`, see `offset_holes`)
  hands over its records up to the hole only, and the consumer seeks back to read the hole again;
- a revocation waits for the batch being decided (`busy`) and commits it before the partition
  goes; a batch fetched before a revocation and not yet started is dropped (`generation`), and
  every assignment starts reading at the committed offset (`rewind`), so what was dropped is
  read again, whatever position the consumer kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import IllegalStateError, KafkaError

from schemas.broker_profile import BrokerProfile
from schemas.offset_holes import HoleGuard

log = logging.getLogger(__name__)

OnAssigned = Callable[[set[TopicPartition]], Awaitable[None]]


class RequestIntake(ConsumerRebalanceListener):
    """One consumer-group member on the requests topic.

    `on_assigned` is awaited with every new assignment (empty when this member owns nothing)
    before any record of it is handed out.
    """

    def __init__(self, consumer_kwargs: dict[str, Any], topic: str, profile: BrokerProfile,
                 batch_max: int, on_assigned: OnAssigned) -> None:
        self.consumer_kwargs = consumer_kwargs
        #: built by `start` (aiokafka binds it to the running event loop)
        self.consumer: AIOKafkaConsumer | None = None
        self.topic = topic
        self.batch_max = batch_max
        self.on_assigned = on_assigned
        self.holes = HoleGuard() if profile.fetch_skips_records else None
        #: per partition, the offset after the last record handed out (None: not known)
        self.next_of: dict[TopicPartition, int | None] = {}
        #: assigned partitions whose starting position `take` has not read yet
        self.fresh: set[TopicPartition] = set()
        #: per partition, the offset after the last request whose outputs are acknowledged
        self.done: dict[TopicPartition, int] = {}
        self.committed: dict[TopicPartition, int] = {}
        #: held while a batch is decided and its outputs flushed
        self.busy = asyncio.Lock()
        #: moves on every revocation: a batch fetched before it is no longer ours
        self.generation = 0
        self.revoked = asyncio.Event()

    # --- life cycle ----------------------------------------------------------------------
    async def start(self) -> None:
        self.consumer = AIOKafkaConsumer(**self.consumer_kwargs)
        self.consumer.subscribe([self.topic], listener=self)
        await self.consumer.start()

    def started(self) -> AIOKafkaConsumer:
        if self.consumer is None:
            raise RuntimeError("the request intake is not started")
        return self.consumer

    async def stop(self) -> None:
        """Commit what is decided, then leave the group (the standby takes over at once)."""
        if self.consumer is None:
            return
        async with self.busy:
            await self.commit()
        await self.consumer.stop()

    # --- ConsumerRebalanceListener --------------------------------------------------------
    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        async with self.busy:
            self.generation += 1
            self.revoked.set()
            self.revoked = asyncio.Event()
            await self.commit()
            self.next_of.clear()
            self.fresh.clear()
            self.done.clear()
            self.committed.clear()
            if self.holes is not None:
                self.holes.forget()

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        # The starting positions are set in `take` (`rewind`), once this callback has returned.
        self.fresh.update(assigned)
        await self.on_assigned(set(assigned))

    # --- reading -------------------------------------------------------------------------
    async def take(self) -> tuple[int, list[Any]]:
        """The next non-empty batch of records (in partition order, up to the first hole of
        each) and the generation it was fetched in."""
        consumer = self.started()
        while True:
            generation = self.generation
            for tp in list(self.fresh):
                with contextlib.suppress(IllegalStateError):  # revoked meanwhile
                    self.next_of[tp] = await self.rewind(tp)
                self.fresh.discard(tp)
            fetched = await consumer.getmany(timeout_ms=1000, max_records=self.batch_max)
            if generation != self.generation:
                continue
            batch: list[Any] = []
            for tp, records in fetched.items():
                batch.extend(self.without_holes(tp, records))
            if batch:
                return generation, batch

    async def rewind(self, tp: TopicPartition) -> int:
        """Start a newly assigned partition at its committed offset, explicitly: the consumer may
        keep the position of records fetched before a revocation and dropped since (never
        decided), and a commit after them would pass them by."""
        consumer = self.started()
        committed = await consumer.committed(tp)
        if committed is None:
            await consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, committed)
        return await consumer.position(tp)

    def without_holes(self, tp: TopicPartition, records: Sequence[Any]) -> Sequence[Any]:
        if tp in self.fresh:
            return []  # assigned during the fetch: read again from the committed offset
        expected = self.next_of.get(tp)
        if self.holes is None:
            kept: Sequence[Any] = records
        else:
            kept, hole = self.holes.take(tp, expected, records)
            if hole is not None:
                self.started().seek(tp, hole)
        if kept:
            self.next_of[tp] = kept[-1].offset + 1
        return kept

    async def revoked_since(self, generation: int) -> None:
        """Return once a revocation came after `generation` was read."""
        if self.generation == generation:
            await self.revoked.wait()

    # --- committing ----------------------------------------------------------------------
    def decided(self, records: Sequence[Any]) -> None:
        """`records` (one batch, in offset order per partition) have their outputs acknowledged."""
        for record in records:
            self.done[TopicPartition(record.topic, record.partition)] = record.offset + 1

    async def commit(self) -> None:
        """Commit the decided offsets not committed yet (a failure is retried on the next call:
        the requests after the last commit are decided again, with the same ids)."""
        if self.consumer is None:
            return
        owned = self.consumer.assignment()
        due = {tp: offset for tp, offset in self.done.items()
               if tp in owned and self.committed.get(tp) != offset}
        if not due:
            return
        try:
            await self.consumer.commit(due)
        except KafkaError as err:
            log.warning("admission could not commit %s: %r", due, err)
            return
        self.committed.update(due)
