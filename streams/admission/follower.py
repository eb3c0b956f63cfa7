"""Keeps an `AdmissionState` current with the logs: the latest snapshot, then every record after it.

One plain consumer (no group: every admission process, active or standby, reads everything)
assigned to `events.lane`, `events.task`, `tasks.accepted` and `tasks.rejected`. Each record is
folded once (`claim_position`); the active agent's own decisions come back here too and fold to
nothing, since it applied them when it made them.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from schemas import AdmissionDecision, LaneEvent, TaskEvent, TaskStatus, Topics
from schemas.broker_profile import BrokerProfile
from schemas.errors import PayloadTooLarge
from schemas.offset_holes import HoleGuard
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

#: Past the reported ends, a catch-up reads on with polls this short, for at most this many
#: of them (new records keep arriving while other processes write).
AFTER_END_POLL_MS = 20
AFTER_END_POLLS = 10


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
        self.kwargs = profile.consumer_kwargs(bootstrap, None)
        self.consumer: AIOKafkaConsumer = None  # made in start()
        self.parts: list[TopicPartition] = []
        self.snapshot_head: SnapshotHead | None = None
        #: True while this process is the active admission (see `set_active`).
        self.own_decisions = False
        self.decision_topics = {topics.tasks_accepted, topics.tasks_rejected}
        #: The steady follow loop and a takeover's catch-up share the consumer.
        self.lock = asyncio.Lock()
        #: Holes a fetch left in a log (see `offset_holes`): read again before folding on.
        self.holes = HoleGuard()

    async def start(self) -> None:
        # aiokafka consumers bind to the running loop: created here, not in __init__.
        self.consumer = AIOKafkaConsumer(**self.kwargs)
        await self.consumer.start()
        self.parts = [TopicPartition(n, p) for n in self.names
                      for p in sorted(self.consumer.partitions_for_topic(n) or {0})]

    async def stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()

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
        if not self.consumer.assignment():
            self.consumer.assign(self.parts)
            for tp in self.parts:
                start = self.state.folded_upto.get(tp.topic)
                if start is None:
                    await self.consumer.seek_to_beginning(tp)
                else:
                    self.consumer.seek(tp, start)
        ends = await self.consumer.end_offsets(self.parts)
        deadline = time.monotonic() + timeout_s
        decisions = [tp for tp in self.parts if tp.topic in self.decision_topics]
        events = [tp for tp in self.parts if tp.topic not in self.decision_topics]
        if self.own_decisions:  # applied when they were made, and paused (see `set_active`)
            return await self._read_to_ends(events, ends, deadline, timeout_s)
        self.consumer.pause(*events)
        try:
            read = await self._read_to_ends(decisions, ends, deadline, timeout_s)
        finally:
            self.consumer.resume(*events)
        return read + await self._read_to_ends(self.parts, ends, deadline, timeout_s)

    async def _read_to_ends(self, parts: list[TopicPartition], ends: dict[TopicPartition, int],
                            deadline: float, timeout_s: float) -> int:
        """Read `parts` to `ends`, then on while short polls still return records.

        A broker may report an end below the real one (see `BrokerProfile`): stopping at the
        reported end would leave the rest of a decision log to be read beside the events again.
        """
        read, extra = 0, 0
        while True:
            positions = {tp: await self.consumer.position(tp) for tp in parts}
            at_end = all(positions[tp] >= ends[tp] for tp in parts)
            if time.monotonic() > deadline:
                raise CatchUpTimeout(f"admission could not read the logs to their end in {timeout_s:g}s")
            got = len(await self.poll(AFTER_END_POLL_MS if at_end else 250))
            read += got
            if at_end:
                extra += 1
                if not got or extra >= AFTER_END_POLLS:
                    return read

    # --- steady state --------------------------------------------------------------------
    async def poll(self, timeout_ms: int) -> list[Folded]:
        async with self.lock:
            batch = await self.consumer.getmany(timeout_ms=timeout_ms, max_records=5000)
            folded: list[Folded] = []
            for tp, fetched in batch.items():
                # a worker's event a fetch skipped would keep a started task queued: read it again
                records, hole = self.holes.take(tp, self.state.folded_upto.get(tp.topic), fetched)
                if hole is not None:
                    self.consumer.seek(tp, hole)
                for record in records:
                    folded.append(self.fold(tp.topic, record.offset, record.value))
        return folded

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
        for tp, end in (await self.consumer.end_offsets(decisions)).items():
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
