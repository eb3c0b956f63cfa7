"""Keeps an `AdmissionState` current with the logs: the latest snapshot, then every record after it.

One plain consumer (no group: every admission process, active or standby, reads everything)
assigned to `events.lane`, `events.task`, `tasks.accepted` and `tasks.rejected`, read through the
one log reader (`LogTail`: holes read again and ends read past where the broker profile says
so). Each record is folded once (`claim_position`); the active agent's own decisions come back
here too and fold to nothing, since it applied them when it made them.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from schemas import AdmissionDecision, LaneEvent, TaskEvent, TaskStatus, Topics
from schemas.broker_profile import BrokerProfile
from schemas.errors import PayloadTooLarge
from schemas.log_tail import LogTail
from schemas.wire import decode
from streams.admission.errors import CatchUpTimeout, SnapshotUnusable
from streams.admission.snapshot import decode_snapshot
from streams.admission.snapshot_store import SnapshotHead, newest_head, read_body
from streams.admission.state import (
    AdmissionState,
    LaneTransition,
    fold_decision,
    fold_lane_event,
    fold_task_event,
)

log = logging.getLogger(__name__)

#: Records per fetch: a catch-up reads long logs, and each fetch round has its own overhead.
FETCH_RECORDS = 5000


@dataclass(frozen=True)
class Folded:
    """What one record did, for the agent's metrics and outputs."""

    topic: str
    offset: int
    ok: bool
    transition: LaneTransition | None = None


@dataclass(frozen=True)
class StartReport:
    snapshot: SnapshotHead | None
    snapshot_tasks: int
    tail_records: int
    seconds: float


class LogFollower:
    def __init__(self, state: AdmissionState, bootstrap: str, topics: Topics,
                 profile: BrokerProfile) -> None:
        self.state = state
        self.topics = topics
        self.names = [topics.events_lane, topics.events_task, topics.tasks_accepted,
                      topics.tasks_rejected]
        self.profile = profile
        self.kwargs = profile.consumer_kwargs(bootstrap, None)
        self.tail: LogTail | None = None  # made in start()
        self.parts: list[TopicPartition] = []
        self.snapshot_head: SnapshotHead | None = None
        #: True while this process is the active admission (see `set_active`).
        self.own_decisions = False
        self.decision_topics = {topics.tasks_accepted, topics.tasks_rejected}
        #: The steady follow loop and a takeover's catch-up share the consumer.
        self.lock = asyncio.Lock()

    async def start(self) -> None:
        # aiokafka consumers bind to the running loop: created here, not in __init__.
        consumer = AIOKafkaConsumer(**self.kwargs)
        self.tail = LogTail(consumer, self.profile)
        await consumer.start()
        self.parts = [TopicPartition(n, p) for n in self.names
                      for p in sorted(consumer.partitions_for_topic(n) or {0})]

    @property
    def consumer(self) -> AIOKafkaConsumer:
        return self.started().consumer

    async def stop(self) -> None:
        if self.tail is not None:
            await self.tail.consumer.stop()

    # --- start-up ------------------------------------------------------------------------
    async def load_snapshot(self, snapshots_topic: str) -> AdmissionState | None:
        """The newest usable snapshot's state, or None (logged) if there is none or it is unusable."""
        tp = TopicPartition(snapshots_topic, 0)
        if not self.consumer.partitions_for_topic(snapshots_topic):
            log.warning("no snapshot topic %s: folding the logs from the start", snapshots_topic)
            return None
        self.consumer.assign([tp])
        try:
            head = await newest_head(self.consumer, tp)
            if head is None:
                return None
            body = await read_body(self.consumer, tp, head)
            with collections_paused():
                restored, covers = decode_snapshot(body, self.state.config)
        except SnapshotUnusable as exc:
            log.warning("ignoring the admission snapshot (%s): rebuilding from the logs", exc)
            return None
        finally:
            self.consumer.unsubscribe()
        restored.folded_upto.update(covers)
        self.snapshot_head = head
        return restored

    async def catch_up(self, timeout_s: float) -> int:
        """Fold every record up to the logs' ends as of now; returns how many were read.

        The decision logs first, then the event logs: read side by side, `events.task` (two or
        three records per task) runs ahead of the decisions, and each event read before its
        task's decision would wait in the bounded `early` map, which a long log overflows.
        """
        tail = self.started()
        if not self.consumer.assignment():
            self.consumer.assign(self.parts)
            for tp in self.parts:
                start = self.state.folded_upto.get(tp.topic)
                if start is None:
                    await tail.seek_to_beginning([tp])
                else:
                    tail.seek(tp, start)
        deadline = time.monotonic() + timeout_s
        decisions = [tp for tp in self.parts if tp.topic in self.decision_topics]
        events = [tp for tp in self.parts if tp.topic not in self.decision_topics]
        if self.own_decisions:  # applied when they were made, and paused (see `set_active`)
            return await self._read_to_end(events, deadline, timeout_s)
        self.consumer.pause(*events)
        try:
            read = await self._read_to_end(decisions, deadline, timeout_s)
        finally:
            self.consumer.resume(*events)
        return read + await self._read_to_end(self.parts, deadline, timeout_s)

    async def _read_to_end(self, parts: list[TopicPartition], deadline: float, timeout_s: float) -> int:
        before = self.started().records_taken

        def fold_all(tp: TopicPartition, records: Sequence[Any]) -> None:
            for record in records:
                self.fold(tp.topic, record.offset, record.value)

        async with self.lock:
            reached = await self.started().read_to_end(fold_all, max(0.0, deadline - time.monotonic()),
                                                       tps=parts, max_records=FETCH_RECORDS)
        if not reached:
            raise CatchUpTimeout(f"admission could not read the logs to their end in {timeout_s:g}s")
        return self.started().records_taken - before

    def started(self) -> LogTail:
        if self.tail is None:
            raise RuntimeError("the log follower is not started")
        return self.tail

    # --- steady state --------------------------------------------------------------------
    async def poll(self, timeout_ms: int) -> list[Folded]:
        async with self.lock:
            taken = await self.started().fetch(timeout_ms, max_records=FETCH_RECORDS)
            return [self.fold(tp.topic, record.offset, record.value)
                    for tp, records in taken.items() for record in records]

    def fold(self, topic: str, offset: int, value: bytes | None) -> Folded:
        state, t = self.state, self.topics
        if not state.claim_position(topic, offset) or value is None:
            return Folded(topic, offset, True)
        if self.own_decisions and topic in self.decision_topics:
            return Folded(topic, offset, True)
        if topic == t.events_task and self._repeats_pending(value):
            return Folded(topic, offset, True)
        try:
            if topic == t.events_lane:
                return Folded(topic, offset, True, fold_lane_event(state, decode(LaneEvent, value)))
            if topic == t.events_task:
                return Folded(topic, offset, fold_task_event(state, decode(TaskEvent, value)))
            fold_decision(state, decode(AdmissionDecision, value))
            return Folded(topic, offset, True)
        except (ValidationError, PayloadTooLarge) as exc:
            log.warning("skipping unreadable record %s@%d: %s", topic, offset, exc)
            return Folded(topic, offset, False)

    def set_active(self, active: bool) -> None:
        """The active admission applied every decision it made: it stops reading them back.

        Its decision partitions are paused (and the positions claimed on resume are skipped),
        so the follower reads only the worker and lane events; a standby reads everything.
        """
        self.own_decisions = active
        decisions = [tp for tp in self.parts if tp.topic in self.decision_topics]
        if active:
            self.consumer.pause(*decisions)
        else:
            self.consumer.resume(*decisions)

    async def claim_own_decisions(self) -> None:
        """While active, every decision record up to the logs' ends is ours and applied: say so.

        A broker that under-reports the end only makes a later start re-fold a few of them.
        """
        if not self.own_decisions:
            return
        decisions = [tp for tp in self.parts if tp.topic in self.decision_topics]
        for tp, end in (await self.started().ends(decisions)).items():
            if end > self.state.folded_upto.get(tp.topic, 0):
                self.state.folded_upto[tp.topic] = end

    def _repeats_pending(self, value: bytes) -> bool:
        """A `pending` event the fold would ignore (`TaskRecord.repeats`: admission wrote it).

        Checked on the bytes: one is written per acceptance, and decoding each costs more than
        the rest of the decision's follow-up.
        """
        if b'"status":"pending"' not in value:
            return False
        start = value.find(b'"id":"')
        if start < 0:
            return False
        end = value.find(b'"', start + 6)
        found = self.state.tasks.get(value[start + 6:end].decode(errors="replace"))
        return found is not None and found.repeats(TaskStatus.pending)


@contextmanager
def collections_paused() -> Iterator[None]:
    """No cyclic garbage collection while a snapshot's records are built.

    They hold no cycles, yet each generation-0 threshold crossed while allocating them would
    scan the growing state again.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


async def start_state(state: AdmissionState, follower: LogFollower, snapshots_topic: str | None,
                      timeout_s: float) -> tuple[AdmissionState, StartReport]:
    """Snapshot (if enabled and usable) then the tail: the state a start-up begins from."""
    started = time.monotonic()
    restored = await follower.load_snapshot(snapshots_topic) if snapshots_topic else None
    if restored is not None:
        state = restored
        follower.state = state
    tasks = len(state.tasks)
    tail = await follower.catch_up(timeout_s)
    # The state just loaded lives as long as the process: later collections need not scan it.
    gc.freeze()
    return state, StartReport(follower.snapshot_head, tasks if restored else 0, tail,
                              time.monotonic() - started)
