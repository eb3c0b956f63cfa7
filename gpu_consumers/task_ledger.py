"""Follows `events.task` from the beginning: which tasks already ended, how often each started.

This is what keeps at-least-once delivery from re-running work: a worker that crashed after
publishing `done` but before committing leaves the item to be redelivered; the next worker
finds the task in the ledger, commits, and moves on.

When it must be complete: a lane partition is owned by one group member at a time, so once a
worker has read the log to its end *after* being assigned its partitions (`refresh` marks the
assignment, `ensure_current` catches up once), the only new terminal events for its items are
its own, which it records locally (`record`). So the blocking catch-up (an end-offsets round
trip) is paid once per assignment, not before every job. The follower keeps folding the log in
the background, which also narrows the one residual window: a zombie previous owner (it lost
the partition, e.g. stalled past the session timeout, but still finishes its job) publishing
`done` after our catch-up. Its event is seen once folded (within about one fetch wait) and a
later redelivery of that task is skipped; if we already started the task, both finish and two
`done` events exist for it (the same window existed with a catch-up before every job).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from schemas.enums import TaskStatus
from schemas.tasks import TaskEvent
from schemas.wire import PayloadTooLarge, decode

log = logging.getLogger(__name__)


class TaskLedger:
    def __init__(self, topic: str, consumer_kwargs: dict[str, Any]) -> None:
        self.topic = topic
        self._consumer = AIOKafkaConsumer(topic, **consumer_kwargs)
        self.ended: set[str] = set()
        self.done: set[str] = set()
        self.starts: Counter[str] = Counter()
        self._next: dict[TopicPartition, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._assignments = 0  # bumped on every lane-partition assignment
        self._caught_up_to = -1  # the assignment count the last successful catch-up covers

    async def start(self) -> None:
        await self._consumer.start()
        self._task = asyncio.create_task(self._follow(), name="task-ledger")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()

    def record(self, event: TaskEvent) -> None:
        """Fold one event (also called for our own publishes, so we never wait on ourselves)."""
        status = event.task.status
        if status is TaskStatus.processing:
            self.starts[event.task_id] += 1
        elif status is TaskStatus.done:
            self.done.add(event.task_id)
            self.ended.add(event.task_id)
        elif status is TaskStatus.failed and event.lane is not None:
            # Failed by a lane worker (not an admission rejection): its terminal event is out.
            self.ended.add(event.task_id)

    def refresh(self) -> None:
        """The worker was (re)assigned lane partitions: catch up before the next job."""
        self._assignments += 1

    async def ensure_current(self, timeout_s: float) -> bool:
        """True once the log has been read to its end after the latest assignment."""
        target = self._assignments
        if self._caught_up_to >= target:
            return True
        if not await self.catch_up(timeout_s):
            return False
        self._caught_up_to = target
        return True

    async def _follow(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=200)
            for tp, messages in batches.items():
                for message in messages:
                    self._next[tp] = message.offset + 1
                    if message.value is None:
                        continue
                    try:
                        self.record(decode(TaskEvent, message.value))
                    except (ValidationError, PayloadTooLarge):
                        continue  # not ours to judge; the audit sink keeps the bad record

    async def catch_up(self, timeout_s: float) -> bool:
        """True once everything on the topic up to now has been folded in."""
        deadline = time.monotonic() + timeout_s
        partitions = self._consumer.assignment()
        while not partitions:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.02)
            partitions = self._consumer.assignment()
        ends = await self._consumer.end_offsets(list(partitions))
        while any(self._next.get(tp, 0) < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True
