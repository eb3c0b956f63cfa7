"""One way to read a log: seek to a position or a time, fetch contiguously, read to the end,
then tail.

Every plain consumer of framegate (the lane workers' task ledger, the audit sink, admission's
log follower and its request intake) reads a log the same way, so the local broker's quirks are handled
once, here, and only where the `BrokerProfile` says the broker has them:

- `offsets_for_times` off: the broker cannot find an offset by time, so the first record of a
  time window is found by a binary search over record timestamps (a few single-record reads);
- `fetch_skips_records` on: a fetch may skip a record another producer is writing, so each
  partition's records are taken only up to such a hole, which is read again (`offset_holes`);
- `under_reports_end_offsets` on: the end offset the broker reports may be too low, so "read to
  the end" goes on past it until a fetch finds nothing more.

On Kafka all three are off: times are looked up, every fetched record is taken, and the reported
end is the end.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.broker_profile import BrokerProfile
from schemas.offset_holes import HoleGuard

#: Past the reported end (where it may be too low), how long each further fetch waits, and for
#: at most how many fetches (new records keep arriving while others write).
AFTER_END_POLL_MS = 20
AFTER_END_POLLS = 10
#: How long one single-record read of the time search waits for its record.
SEARCH_READ_MS = 2_000


class LogTail:
    def __init__(self, consumer: AIOKafkaConsumer, profile: BrokerProfile) -> None:
        self.consumer = consumer
        self.profile = profile
        self.holes = HoleGuard() if profile.fetch_skips_records else None
        #: Per partition, the offset after the last record taken.
        self.next: dict[TopicPartition, int] = {}
        #: Records taken so far, and fetches that came back empty (a reader on another task
        #: waits on these for "nothing more", see `wait_for_end`).
        self.records_taken = 0
        self.fetches = 0
        self.empty_fetches = 0

    # --- where to start ------------------------------------------------------------------------
    async def assign_all(self, topic: str) -> list[TopicPartition]:
        """Every partition of `topic`, assigned (no group: this reader reads them all)."""
        partitions = self.consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        self.consumer.assign(tps)
        return tps

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.consumer.seek(tp, offset)
        self.next[tp] = offset

    async def seek_to_beginning(self, tps: Sequence[TopicPartition]) -> None:
        """Each partition at its first record (a truncated log's start, not offset 0: "the end is
        reached" must hold on a log whose records are all gone)."""
        await self.consumer.seek_to_beginning(*tps)
        for tp in tps:
            self.next[tp] = await self.consumer.position(tp)

    async def seek_to_committed(self, tp: TopicPartition) -> int:
        """A group member's start on `tp`: its group's committed offset (the beginning when none
        is), set explicitly: the consumer may keep the position of records fetched before a
        revocation and dropped since, and a commit after them would pass them by."""
        committed = await self.consumer.committed(tp)
        if committed is None:
            await self.consumer.seek_to_beginning(tp)
            committed = await self.consumer.position(tp)
        self.seek(tp, committed)
        return committed

    async def seek_to_time(self, tps: Sequence[TopicPartition], since_ms: int) -> dict[TopicPartition, int]:
        """Each partition at its first record not older than `since_ms` (its end when none is)."""
        offsets = await self.offsets_since(tps, since_ms)
        for tp, offset in offsets.items():
            self.seek(tp, offset)
        return offsets

    async def offsets_since(self, tps: Sequence[TopicPartition], since_ms: int) -> dict[TopicPartition, int]:
        ends = await self.consumer.end_offsets(list(tps))
        if self.profile.offsets_for_times:
            found = await self.consumer.offsets_for_times({tp: since_ms for tp in tps})
            return {tp: (found[tp].offset if found.get(tp) is not None else ends[tp]) for tp in tps}
        starts = await self.consumer.beginning_offsets(list(tps))
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
        self.consumer.seek(tp, offset)
        batches = await self.consumer.getmany(tp, timeout_ms=SEARCH_READ_MS, max_records=1)
        for message in batches.get(tp, []):
            return message.offset, message.timestamp
        return None

    # --- reading -------------------------------------------------------------------------------
    def take(self, fetched: Mapping[TopicPartition, Sequence[Any]]) -> dict[TopicPartition, Sequence[Any]]:
        """Each partition's records of one fetch, contiguous: up to a hole the fetch left, which
        the consumer reads again (where the profile says fetches skip records)."""
        taken: dict[TopicPartition, Sequence[Any]] = {}
        for tp, records in fetched.items():
            kept: Sequence[Any] = records
            if self.holes is not None:
                kept, hole = self.holes.take(tp, self.next.get(tp), records)
                if hole is not None:
                    self.consumer.seek(tp, hole)
            if kept:
                taken[tp] = kept
                self.next[tp] = kept[-1].offset + 1
                self.records_taken += len(kept)
        return taken

    async def fetch(self, timeout_ms: int, max_records: int | None = None) -> dict[TopicPartition, Sequence[Any]]:
        """One fetch, contiguous (see `take`)."""
        fetched = await self.consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        self.fetches += 1
        if not any(fetched.values()):
            self.empty_fetches += 1
        return self.take(fetched)

    def forget(self) -> None:
        """Positions are about to be reset (a revocation): the next owner starts from its commit."""
        self.next = {}
        if self.holes is not None:
            self.holes.forget()

    # --- the end -------------------------------------------------------------------------------
    async def ends(self, tps: Iterable[TopicPartition] | None = None) -> dict[TopicPartition, int]:
        """The reported end offsets of `tps` (default: every assigned partition)."""
        parts = list(self.consumer.assignment() if tps is None else tps)
        return await self.consumer.end_offsets(parts) if parts else {}

    def reached(self, ends: Mapping[TopicPartition, int]) -> bool:
        return all(self.next.get(tp, 0) >= end for tp, end in ends.items())

    async def wait_for_end(self, timeout_s: float, clock: Callable[[], float] = time.monotonic) -> bool:
        """For a tail fetched by another task: True once everything up to now has been taken
        (past the reported ends and, where they may be too low, on until a fetch after that finds
        nothing more, or `AFTER_END_POLLS` fetches did)."""
        deadline = clock() + timeout_s
        ends = await self.ends()
        while not self.reached(ends):
            if clock() > deadline:
                return False
            await asyncio.sleep(0.01)
        if not self.profile.under_reports_end_offsets:
            return True
        empty, fetches = self.empty_fetches, self.fetches
        while self.empty_fetches == empty and self.fetches - fetches < AFTER_END_POLLS:
            if clock() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    async def read_to_end(
        self,
        handle: Callable[[TopicPartition, Sequence[Any]], None],
        timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
        tps: Iterable[TopicPartition] | None = None,
        max_records: int | None = None,
    ) -> bool:
        """Catch up by reading here: fetch and `handle` until the reported ends of `tps` (default:
        every assigned partition; the others should be paused) are reached and, where they may be
        too low, on while short fetches still return records; `max_records` per fetch. False when the deadline passes
        first (what was read is handled)."""
        deadline = clock() + timeout_s
        ends = await self.ends(tps)
        extra = 0
        while True:
            at_end = self.reached(ends)
            if at_end and not self.profile.under_reports_end_offsets:
                return True
            if clock() > deadline:
                return False
            taken = await self.fetch(AFTER_END_POLL_MS if at_end else 250, max_records)
            for tp, records in taken.items():
                handle(tp, records)
            if at_end:
                extra += 1
                if not taken or extra >= AFTER_END_POLLS:
                    return True
