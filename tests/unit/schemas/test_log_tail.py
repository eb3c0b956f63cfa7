"""The one log tail: each of the local broker's quirks is handled only where the profile says so.

The consumer here is an in-memory log with aiokafka's reading surface (no broker): what is
tested is the tail's rule per profile setting, on the `tansu` and the `kafka` profile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from aiokafka import TopicPartition

from schemas.broker_profile import BROKER_PROFILES, BrokerProfile
from schemas.log_tail import AFTER_END_POLLS, LogTail

TP = TopicPartition("events.task", 0)
TANSU, KAFKA = BROKER_PROFILES["tansu"], BROKER_PROFILES["kafka"]


@dataclass(frozen=True)
class Rec:
    offset: int
    timestamp: int
    value: bytes | None = b"x"


@dataclass(frozen=True)
class Found:
    offset: int


class MemoryLog:
    """One partition; `reported_end` stands in for a broker's end-offset answer."""

    def __init__(self, timestamps: Sequence[int], reported_end: int | None = None) -> None:
        self.records = [Rec(i, ts) for i, ts in enumerate(timestamps)]
        self.reported_end = len(self.records) if reported_end is None else reported_end
        self.at = 0
        self.time_lookups = 0
        self.reads = 0
        self.skip_next: tuple[int, int] | None = None  # (offset, count): one fetch skips these
        self.start = 0  # the log's first offset (records before it are gone)
        self.group_offset: int | None = None  # the consumer group's committed offset

    async def committed(self, tp: TopicPartition) -> int | None:
        return self.group_offset

    async def position(self, tp: TopicPartition) -> int:
        return self.at

    def partitions_for_topic(self, topic: str) -> set[int]:
        return {0}

    def assign(self, tps: list[TopicPartition]) -> None:
        pass

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.at = offset

    async def seek_to_beginning(self, *tps: TopicPartition) -> None:
        self.at = self.start

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {TP: self.reported_end}

    async def beginning_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {TP: self.start}

    async def offsets_for_times(self, query: dict[TopicPartition, int]) -> dict[TopicPartition, Found | None]:
        self.time_lookups += 1
        first = next((r.offset for r in self.records if r.timestamp >= query[TP]), None)
        return {TP: None if first is None else Found(first)}

    async def getmany(self, *tps: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
                      ) -> dict[TopicPartition, list[Rec]]:
        self.reads += 1
        batch = self.records[self.at:self.at + (max_records or 100)]
        if self.skip_next is not None and batch:
            start, count = self.skip_next
            self.skip_next = None
            batch = [r for r in batch if not start <= r.offset < start + count]
        if not batch:
            return {}
        self.at = batch[-1].offset + 1
        return {TP: batch}


def tail(log: MemoryLog, profile: BrokerProfile) -> LogTail:
    return LogTail(log, profile)  # type: ignore[arg-type]


@pytest.mark.parametrize("profile", [TANSU, KAFKA], ids=lambda p: p.name)
def test_seek_to_time_finds_the_first_record_of_the_window_either_way(profile: BrokerProfile) -> None:
    log = MemoryLog([100, 200, 300, 400, 500])
    reader = tail(log, profile)
    assert asyncio.run(reader.seek_to_time([TP], 250)) == {TP: 2}
    assert log.at == 2 and reader.next == {TP: 2}
    # offsets_for_times: looked up on Kafka; on tansu (which answers 0) found by reading
    assert log.time_lookups == (1 if profile.offsets_for_times else 0)
    assert (log.reads > 0) is (not profile.offsets_for_times)
    assert asyncio.run(tail(MemoryLog([1, 2]), profile).seek_to_time([TP], 999)) == {TP: 2}


@pytest.mark.parametrize("profile", [TANSU, KAFKA], ids=lambda p: p.name)
def test_a_skipped_record_is_read_again_only_where_fetches_skip(profile: BrokerProfile) -> None:
    async def scenario() -> list[int]:
        log = MemoryLog([0] * 6)
        reader = tail(log, profile)
        reader.seek(TP, 0)
        log.skip_next = (2, 1)  # the first fetch hands out 0, 1, 3, 4, 5
        taken: list[int] = []
        for _ in range(3):
            for records in (await reader.fetch(0)).values():
                taken += [r.offset for r in records]
        return taken

    taken = asyncio.run(scenario())
    if profile.fetch_skips_records:
        assert taken == [0, 1, 2, 3, 4, 5]  # cut at the hole, read again from 2
    else:
        assert taken == [0, 1, 3, 4, 5]  # Kafka's logs have no holes: a fetch is taken whole


@pytest.mark.parametrize("profile", [TANSU, KAFKA], ids=lambda p: p.name)
def test_read_to_end_goes_past_an_under_reported_end_only_where_the_broker_does_that(
    profile: BrokerProfile,
) -> None:
    async def scenario() -> tuple[bool, list[int]]:
        log = MemoryLog([0] * 8, reported_end=3)
        reader = tail(log, profile)
        reader.seek(TP, 0)
        seen: list[int] = []

        def handle(tp: TopicPartition, records: Sequence[Any]) -> None:
            seen.extend(r.offset for r in records)

        log.records, rest = log.records[:3], log.records[3:]
        done = await reader.read_to_end(handle, 10.0)
        log.records += rest  # more past the reported end: read only where it may be too low
        return done and await reader.read_to_end(handle, 10.0), seen

    done, seen = asyncio.run(scenario())
    assert done
    assert seen == (list(range(8)) if profile.under_reports_end_offsets else [0, 1, 2])


@pytest.mark.parametrize("profile", [TANSU, KAFKA], ids=lambda p: p.name)
def test_wait_for_end_needs_a_fetch_past_the_end_only_where_ends_may_be_low(profile: BrokerProfile) -> None:
    async def scenario() -> tuple[bool, int]:
        log = MemoryLog([0] * 3)
        reader = tail(log, profile)
        reader.seek(TP, 0)
        await reader.fetch(0)  # everything up to the reported end
        waiting = asyncio.create_task(reader.wait_for_end(10.0))
        await asyncio.sleep(0.05)
        finished_early = waiting.done()
        await reader.fetch(0)  # the reader's next fetch: nothing more
        return await waiting, int(finished_early)

    done, finished_early = asyncio.run(scenario())
    assert done
    assert finished_early == (0 if profile.under_reports_end_offsets else 1)


def test_wait_for_end_on_a_busy_log_ends_after_a_bounded_number_of_fetches() -> None:
    async def scenario() -> bool:
        log = MemoryLog([0] * 3)
        reader = tail(log, TANSU)
        reader.seek(TP, 0)
        await reader.fetch(0)
        waiting = asyncio.create_task(reader.wait_for_end(10.0))
        await asyncio.sleep(0.02)  # let it take the reported end first
        for i in range(AFTER_END_POLLS):
            log.records.append(Rec(3 + i, 0))  # other writers keep the log busy
            await reader.fetch(0)
            await asyncio.sleep(0.02)
        return await asyncio.wait_for(waiting, 5.0)

    assert asyncio.run(scenario())


def test_the_kafka_profile_has_none_of_the_local_brokers_quirks() -> None:
    assert KAFKA.offsets_for_times and not KAFKA.fetch_skips_records and not KAFKA.under_reports_end_offsets
    assert not TANSU.offsets_for_times and TANSU.fetch_skips_records and TANSU.under_reports_end_offsets


@pytest.mark.parametrize("profile", [TANSU, KAFKA], ids=lambda p: p.name)
def test_a_group_member_starts_at_its_committed_offset_or_the_beginning(profile: BrokerProfile) -> None:
    async def scenario() -> tuple[int, int, dict[TopicPartition, int]]:
        log = MemoryLog([0] * 6)
        log.start = 2
        reader = tail(log, profile)
        log.at = 5  # a position kept from records fetched before a revocation
        fresh = await reader.seek_to_committed(TP)
        log.group_offset = 4
        again = await reader.seek_to_committed(TP)
        return fresh, again, dict(reader.next)

    fresh, again, positions = asyncio.run(scenario())
    assert (fresh, again) == (2, 4)  # nothing committed: the log's first record; else the commit
    assert positions == {TP: 4}


@pytest.mark.parametrize("profile", [TANSU, KAFKA], ids=lambda p: p.name)
def test_a_log_whose_records_are_all_gone_is_read_to_its_end_at_once(profile: BrokerProfile) -> None:
    async def scenario() -> bool:
        log = MemoryLog([0] * 4)
        log.start, log.records = 4, []  # retention removed every record
        reader = tail(log, profile)
        await reader.seek_to_beginning([TP])
        return await reader.read_to_end(lambda tp, records: None, 1.0)

    assert asyncio.run(scenario())


def test_read_to_end_waits_only_for_the_partitions_asked_for() -> None:
    async def scenario() -> tuple[bool, list[int]]:
        log = MemoryLog([0] * 3)
        reader = tail(log, KAFKA)
        reader.seek(TP, 0)
        other = TopicPartition("tasks.accepted", 0)  # paused by the caller: never fetched here
        seen: list[int] = []
        done = await reader.read_to_end(lambda tp, records: seen.extend(r.offset for r in records), 1.0,
                                        tps=[TP])
        log.end_offsets = lambda tps: _ends({TP: 3, other: 9})  # type: ignore[method-assign]
        late = await reader.read_to_end(lambda tp, records: None, 0.2, tps=[TP, other])
        return done and not late, seen

    ok, seen = asyncio.run(scenario())
    assert ok and seen == [0, 1, 2]


async def _ends(ends: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
    return ends
