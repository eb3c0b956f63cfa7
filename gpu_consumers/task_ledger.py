"""Follows `events.task` over a bounded window: which tasks already ended, how often each started.

This is what keeps at-least-once delivery from re-running work: a worker that crashed after
publishing `done` but before committing leaves the item to be redelivered; the next worker
finds the task in the ledger, commits, and moves on. The fold itself (`task_fold`) is pure and
defensive.

Where it starts: not at offset 0 of a log that grows for months, but at the first record of the
last `lane_ledger_window_h` hours (Kafka's offsets-for-times; on brokers without a usable one, a
binary search over record timestamps, about log2(n) single-record fetches). A redelivered item
whose terminal event is older than the window runs again: that needs an item left uncommitted
for longer than the window, i.e. a lane with no live worker for that long right after a crash.

When it must be complete: a lane partition is owned by one group member at a time, so once a
worker has read the log to its end *after* being assigned its partitions (`refresh` marks the
assignment, `ensure_current` catches up once), the only new terminal events for its items are
its own, which it records locally (`record`). So the blocking catch-up (an end-offsets round
trip) is paid once per assignment, not before every job. The follower keeps folding the log in
the background, which also narrows the one residual window: a zombie previous owner (it lost
the partition, e.g. stalled past the session timeout, but still finishes its job) publishing
`done` after our catch-up. Its event is seen once folded (within about one fetch wait) and a
later redelivery of that task is skipped; if we already started the task, both finish and the
second `done` is refused by the fold (counted as an invalid event).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from gpu_consumers.task_fold import Refused, TaskFold
from schemas.errors import PayloadTooLarge
from schemas.offset_holes import HoleGuard
from schemas.tasks import TaskEvent
from schemas.wire import decode

log = logging.getLogger(__name__)


class TaskLedger:
    def __init__(
        self,
        topic: str,
        consumer_kwargs: dict[str, Any],
        *,
        window_s: float | None = None,
        offsets_for_times: bool = True,
        on_invalid: Callable[[Refused], None] | None = None,
        clock: Callable[[], float] = time.time,
        consumer: AIOKafkaConsumer | None = None,
    ) -> None:
        """`consumer` replaces the one built from `consumer_kwargs` (a test that steers its
        fetches, as a skipping broker would)."""
        self.topic = topic
        self._consumer = consumer or AIOKafkaConsumer(**consumer_kwargs)
        self.fold = TaskFold()
        self._window_s = window_s
        self._offsets_for_times = offsets_for_times
        self._on_invalid = on_invalid
        self._clock = clock
        self._next: dict[TopicPartition, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._assignments = 0  # bumped on every lane-partition assignment
        self._caught_up_to = -1  # the assignment count the last successful catch-up covers
        #: Records read from the log (what the window bounds).
        self.records_read = 0

    async def start(self) -> None:
        await self._consumer.start()
        partitions = self._consumer.partitions_for_topic(self.topic) or set()
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        self._consumer.assign(tps)
        if tps and self._window_s is not None:
            since_ms = int((self._clock() - self._window_s) * 1000)
            for tp, offset in (await self._offsets_since(tps, since_ms)).items():
                self._consumer.seek(tp, offset)
                self._next[tp] = offset
        else:
            await self._consumer.seek_to_beginning(*tps)
        self._task = asyncio.create_task(self._follow(), name="task-ledger")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()

    # --- what the worker asks ------------------------------------------------------------------
    def ended(self, task_id: str) -> bool:
        return self.fold.ended(task_id)

    def starts(self, task_id: str) -> int:
        return self.fold.starts(task_id)

    def record(self, event: TaskEvent) -> None:
        """One of our own publishes: effective at once, so we never wait on ourselves."""
        self.fold.record_own(event)

    def refresh(self) -> None:
        """The worker was (re)assigned lane partitions: catch up before the next job."""
        self._assignments += 1

    def current(self) -> bool:
        """True when the log has been read to its end after the latest assignment (no waiting)."""
        return self._caught_up_to >= self._assignments

    async def ensure_current(self, timeout_s: float) -> bool:
        """True once the log has been read to its end after the latest assignment."""
        target = self._assignments
        if self._caught_up_to >= target:
            return True
        if not await self.catch_up(timeout_s):
            return False
        self._caught_up_to = target
        return True

    # --- reading the log -----------------------------------------------------------------------
    def apply(self, value: bytes) -> None:
        """Fold one record read from the log (a bad record is skipped, an illegal one refused)."""
        try:
            event = decode(TaskEvent, value)
        except (ValidationError, PayloadTooLarge):
            return  # not ours to judge; the audit sink keeps the bad record
        refused = self.fold.fold(event)
        if refused is not None:
            log.warning(
                "ignoring task event %s: %s -> %s is not a legal transition for task %s",
                event.event_id, refused.current.value, refused.new.value, refused.task_id,
            )
            if self._on_invalid is not None:
                self._on_invalid(refused)

    async def _follow(self) -> None:
        holes = HoleGuard()
        while True:
            batches = await self._consumer.getmany(timeout_ms=200)
            for tp, fetched in batches.items():
                # another worker's `done` a fetch skipped would let its task run again
                messages, hole = holes.take(tp, self._next.get(tp), fetched)
                if hole is not None:
                    self._consumer.seek(tp, hole)
                for message in messages:
                    self._next[tp] = message.offset + 1
                    self.records_read += 1
                    if message.value is not None:
                        self.apply(message.value)

    async def catch_up(self, timeout_s: float) -> bool:
        """True once everything on the topic up to now has been folded in."""
        deadline = time.monotonic() + timeout_s
        partitions = self._consumer.assignment()
        ends = await self._consumer.end_offsets(list(partitions))
        while any(self._next.get(tp, 0) < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    # --- where the window starts ---------------------------------------------------------------
    async def _offsets_since(self, tps: list[TopicPartition], since_ms: int) -> dict[TopicPartition, int]:
        ends = await self._consumer.end_offsets(tps)
        if self._offsets_for_times:
            found = await self._consumer.offsets_for_times({tp: since_ms for tp in tps})
            return {tp: (found[tp].offset if found.get(tp) is not None else ends[tp]) for tp in tps}
        starts = await self._consumer.beginning_offsets(tps)
        return {tp: await self._search(tp, since_ms, starts[tp], ends[tp]) for tp in tps}

    async def _search(self, tp: TopicPartition, since_ms: int, lo: int, hi: int) -> int:
        """The first offset whose record is not older than `since_ms` (`hi` when none is).

        Binary search over record timestamps, assuming they grow with the offset (producer clocks
        roughly agree): a skewed record moves the window start a little, never past the log.
        """
        while lo < hi:
            mid = (lo + hi) // 2
            record = await self._read_at(tp, mid)
            if record is None or record[0] >= hi:
                hi = mid
            elif record[1] < since_ms:
                lo = record[0] + 1
            else:
                hi = mid
        return lo

    async def _read_at(self, tp: TopicPartition, offset: int) -> tuple[int, int] | None:
        """(offset, timestamp ms) of the first record at or after `offset`, if one comes."""
        self._consumer.seek(tp, offset)
        batches = await self._consumer.getmany(tp, timeout_ms=2_000, max_records=1)
        for message in batches.get(tp, []):
            return message.offset, message.timestamp
        return None
