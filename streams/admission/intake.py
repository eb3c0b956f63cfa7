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
- a batch's offsets become committable only once its outputs are acknowledged, through the one
  commit-after-output step every framegate consumer uses (`schedule`, `AcknowledgedCommits`);
  `commit` (on admission's timer, a revocation and the stop) writes only those;
- the records are read through the one log reader (`LogTail`): where the broker profile says a
  fetch may skip records (tansu), a batch holds each partition's records up to the hole only,
  and the hole is read again;
- a revocation waits for the batch being decided (`busy`) and for its outputs, and commits it
  before the partition goes; a batch fetched before a revocation and not yet started is dropped
  (`generation`), and every assignment starts reading at the committed offset
  (`LogTail.seek_to_committed`), so what was dropped is read again, whatever position the
  consumer kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import IllegalStateError, KafkaError

from schemas.acknowledged_commits import AcknowledgedCommits
from schemas.broker_profile import BrokerProfile
from schemas.log_tail import LogTail

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
        self.profile = profile
        #: built by `start` (aiokafka binds the consumer to the running event loop)
        self.tail: LogTail | None = None
        self.topic = topic
        self.batch_max = batch_max
        self.on_assigned = on_assigned
        #: assigned partitions whose starting position `take` has not set yet
        self.fresh: set[TopicPartition] = set()
        #: per partition, the offset after the last request whose outputs are acknowledged
        self.done: dict[TopicPartition, int] = {}
        self.committed: dict[TopicPartition, int] = {}
        #: the last batch's outputs being delivered, then its offsets marked done
        self.commits = AcknowledgedCommits()
        #: held while a batch is decided and its outputs handed over
        self.busy = asyncio.Lock()
        #: moves on every revocation: a batch fetched before it is no longer ours
        self.generation = 0
        self.revoked = asyncio.Event()

    # --- life cycle ----------------------------------------------------------------------
    async def start(self) -> None:
        consumer = AIOKafkaConsumer(**self.consumer_kwargs)
        self.tail = LogTail(consumer, self.profile)
        consumer.subscribe([self.topic], listener=self)
        await consumer.start()

    def started(self) -> LogTail:
        if self.tail is None:
            raise RuntimeError("the request intake is not started")
        return self.tail

    async def stop(self) -> None:
        """Commit what is decided, then leave the group (the standby takes over at once)."""
        if self.tail is None:
            return
        async with self.busy:
            await self.settle()
            await self.commit()
        await self.tail.consumer.stop()

    # --- ConsumerRebalanceListener --------------------------------------------------------
    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        async with self.busy:
            self.generation += 1
            self.revoked.set()
            self.revoked = asyncio.Event()
            await self.settle()
            await self.commit()
            self.fresh.clear()
            self.done.clear()
            self.committed.clear()
            if self.tail is not None:
                self.tail.forget()

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        # The starting positions are set in `take` (`seek_to_committed`), once this callback has
        # returned.
        self.fresh.update(assigned)
        await self.on_assigned(set(assigned))

    # --- reading -------------------------------------------------------------------------
    async def take(self) -> tuple[int, list[Any]]:
        """The next non-empty batch of records (in partition order, up to the first hole of
        each) and the generation it was fetched in."""
        tail = self.started()
        while True:
            generation = self.generation
            for tp in list(self.fresh):
                with contextlib.suppress(IllegalStateError):  # revoked meanwhile
                    await tail.seek_to_committed(tp)
                self.fresh.discard(tp)
            fetched = await tail.consumer.getmany(timeout_ms=1000, max_records=self.batch_max)
            if generation != self.generation:
                continue
            # a partition assigned during the fetch is read again from its committed offset
            ours = {tp: records for tp, records in fetched.items() if tp not in self.fresh}
            batch = [record for records in tail.take(ours).values() for record in records]
            if batch:
                return generation, batch

    async def revoked_since(self, generation: int) -> None:
        """Return once a revocation came after `generation` was read."""
        if self.generation == generation:
            await self.revoked.wait()

    # --- committing ----------------------------------------------------------------------
    async def schedule(self, batch: Sequence[Any], outputs: Iterable[Awaitable[object]]) -> None:
        """`batch` is decided and its `outputs` handed over: once they are acknowledged (in the
        background, while the next batch is decided), its offsets may be committed."""
        async def mark() -> None:
            self.decided(batch)

        await self.commits.schedule(outputs, mark)

    async def settle(self) -> None:
        """Wait for the last batch's outputs, logging a failed delivery (its offsets stay
        uncommitted; the request loop's next `schedule` raises it)."""
        try:
            await self.commits.settle()
        except Exception:
            log.exception("the last batch's outputs were not acknowledged: its requests stay "
                          "uncommitted")

    def decided(self, records: Sequence[Any]) -> None:
        """`records` (one batch, in offset order per partition) have their outputs acknowledged."""
        for record in records:
            self.done[TopicPartition(record.topic, record.partition)] = record.offset + 1

    async def commit(self) -> None:
        """Commit the decided offsets not committed yet (a failure is retried on the next call:
        the requests after the last commit are decided again, with the same ids)."""
        if self.tail is None:
            return
        owned = self.tail.consumer.assignment()
        due = {tp: offset for tp, offset in self.done.items()
               if tp in owned and self.committed.get(tp) != offset}
        if not due:
            return
        try:
            await self.tail.consumer.commit(due)
        except KafkaError as err:
            log.warning("admission could not commit %s: %r", due, err)
            return
        self.committed.update(due)
