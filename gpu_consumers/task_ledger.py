"""Follows `events.task` over a bounded window: which tasks already ended, how often each started.

This is what keeps at-least-once delivery from re-running work: a worker that crashed after
publishing `done` but before committing leaves the item to be redelivered; the next worker
finds the task in the ledger, commits, and moves on. The fold itself (`task_fold`) is pure and
defensive.

Where it starts: not at offset 0 of a log that grows for months, but at the first record of the
last `lane_ledger_window_h` hours (`schemas.log_tail`: Kafka's offsets-for-times, or on brokers
without a usable one a binary search over record timestamps). A redelivered item
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

from aiokafka import AIOKafkaConsumer
from pydantic import ValidationError

from gpu_consumers.task_fold import Refused, TaskFold
from schemas.broker_profile import BrokerProfile
from schemas.errors import PayloadTooLarge
from schemas.log_tail import LogTail
from schemas.tasks import TaskEvent
from schemas.wire import decode

log = logging.getLogger(__name__)


class TaskLedger:
    def __init__(
        self,
        topic: str,
        consumer_kwargs: dict[str, Any],
        *,
        profile: BrokerProfile,
        window_s: float | None = None,
        on_invalid: Callable[[Refused], None] | None = None,
        clock: Callable[[], float] = time.time,
        consumer: AIOKafkaConsumer | None = None,
    ) -> None:
        """`consumer` replaces the one built from `consumer_kwargs` (a test that steers its
        fetches, as a skipping broker would)."""
        self.topic = topic
        self.tail = LogTail(consumer or AIOKafkaConsumer(**consumer_kwargs), profile)
        self.fold = TaskFold()
        self._window_s = window_s
        self._on_invalid = on_invalid
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._assignments = 0  # bumped on every lane-partition assignment
        self._caught_up_to = -1  # the assignment count the last successful catch-up covers

    @property
    def records_read(self) -> int:
        """Records read from the log (what the window bounds)."""
        return self.tail.records_taken

    async def start(self) -> None:
        await self.tail.consumer.start()
        tps = await self.tail.assign_all(self.topic)
        if tps and self._window_s is not None:
            await self.tail.seek_to_time(tps, int((self._clock() - self._window_s) * 1000))
        else:
            await self.tail.seek_to_beginning(tps)
        self._task = asyncio.create_task(self._follow(), name="task-ledger")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.tail.consumer.stop()

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
        while True:
            # contiguous: another worker's `done` a fetch skipped would let its task run again
            for messages in (await self.tail.fetch(timeout_ms=200)).values():
                for message in messages:
                    if message.value is not None:
                        self.apply(message.value)

    async def catch_up(self, timeout_s: float) -> bool:
        """True once everything on the topic up to now has been folded in."""
        return await self.tail.wait_for_end(timeout_s)
