"""`RequestIntake`: what it hands out around a hole, where an assignment starts, and what it may
commit (only what a batch's acknowledged outputs allow)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from aiokafka import TopicPartition

from schemas.broker_profile import BROKER_PROFILES
from schemas.log_tail import LogTail
from streams.admission.intake import RequestIntake

TP = TopicPartition("t", 0)


@dataclass(frozen=True)
class Rec:
    offset: int
    topic: str = "t"
    partition: int = 0


@dataclass
class ScriptedConsumer:
    """A group member's reading surface: each `getmany` answers the next scripted fetch."""

    fetches: list[dict[TopicPartition, list[Rec]]]
    group_offset: int | None = None
    at: int = 0
    seeks: list[int] = field(default_factory=list)
    commits: list[dict[TopicPartition, int]] = field(default_factory=list)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.at = offset
        self.seeks.append(offset)

    async def seek_to_beginning(self, *tps: TopicPartition) -> None:
        self.at = 0

    async def position(self, tp: TopicPartition) -> int:
        return self.at

    async def committed(self, tp: TopicPartition) -> int | None:
        return self.group_offset

    async def getmany(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[TopicPartition, list[Rec]]:
        return self.fetches.pop(0) if self.fetches else {}

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))


async def nothing(_: set[TopicPartition]) -> None:
    return None


def intake(profile: str, consumer: ScriptedConsumer) -> RequestIntake:
    reader = RequestIntake({}, "t", BROKER_PROFILES[profile], 100, nothing)
    reader.tail = LogTail(consumer, reader.profile)  # type: ignore[arg-type]
    return reader


def offsets(batch: list[Rec]) -> list[int]:
    return [r.offset for r in batch]


@pytest.mark.parametrize("profile", ["tansu", "kafka"])
def test_a_new_assignment_starts_at_the_committed_offset_and_a_hole_is_read_again_only_on_tansu(
    profile: str,
) -> None:
    consumer = ScriptedConsumer([{TP: [Rec(3), Rec(4), Rec(6)]}, {TP: [Rec(5), Rec(6)]}], group_offset=3)
    reader = intake(profile, consumer)
    reader.fresh.add(TP)

    async def scenario() -> list[list[int]]:
        return [offsets((await reader.take())[1]) for _ in range(1 if profile == "kafka" else 2)]

    taken = asyncio.run(scenario())
    assert consumer.seeks[0] == 3  # the assignment's start: the group's commit
    if profile == "tansu":
        assert taken == [[3, 4], [5, 6]] and consumer.seeks[1:] == [5]
    else:
        assert taken == [[3, 4, 6]] and consumer.seeks[1:] == []


def test_records_of_a_partition_assigned_during_the_fetch_are_read_again_from_its_commit() -> None:
    consumer = ScriptedConsumer([{TP: [Rec(7), Rec(8)]}, {TP: [Rec(2)]}], group_offset=2)
    reader = intake("tansu", consumer)

    async def scenario() -> list[int]:
        original, calls = consumer.getmany, []

        async def assigned_meanwhile(timeout_ms: int = 0, max_records: int | None = None) -> dict[TopicPartition, list[Rec]]:
            calls.append(timeout_ms)
            if len(calls) == 1:
                reader.fresh.add(TP)  # the assignment callback ran while this fetch waited
            return await original(timeout_ms, max_records)

        consumer.getmany = assigned_meanwhile  # type: ignore[method-assign]
        return offsets((await reader.take())[1])

    assert asyncio.run(scenario()) == [2]
    assert consumer.seeks == [2]


def test_a_batch_is_committable_only_once_its_outputs_are_acknowledged() -> None:
    async def scenario() -> list[dict[TopicPartition, int]]:
        consumer = ScriptedConsumer([])
        reader = intake("tansu", consumer)
        delivered: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        await reader.schedule([Rec(0), Rec(1)], [delivered])
        await reader.commit()
        assert consumer.commits == [] and reader.done == {}  # outputs still on their way
        delivered.set_result(None)
        await reader.settle()
        await reader.commit()
        await reader.commit()  # nothing new: no second commit
        return consumer.commits

    assert asyncio.run(scenario()) == [{TP: 2}]


def test_a_lost_output_keeps_its_batch_uncommitted_and_stops_the_request_loop() -> None:
    async def scenario() -> None:
        consumer = ScriptedConsumer([])
        reader = intake("tansu", consumer)
        lost: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        lost.set_exception(OSError("delivery failed"))
        await reader.schedule([Rec(0)], [lost])
        await reader.on_partitions_revoked([TP])  # settles (logs the loss) and commits the rest
        assert consumer.commits == []
        with pytest.raises(OSError):
            await reader.schedule([Rec(1)], [])

    asyncio.run(scenario())


def test_a_revocation_wakes_a_batch_taken_before_it_and_forgets_positions() -> None:
    async def run() -> None:
        reader = intake("tansu", ScriptedConsumer([]))
        assert reader.tail is not None
        reader.tail.seek(TP, 4)
        reader.decided([Rec(3)])
        generation = reader.generation
        waiter = asyncio.create_task(reader.revoked_since(generation))
        await asyncio.sleep(0)
        assert not waiter.done()
        await reader.on_partitions_revoked([TP])
        await asyncio.wait_for(waiter, 5)
        assert reader.generation != generation and reader.tail.next == {} and reader.done == {}
        await asyncio.wait_for(reader.revoked_since(generation), 5)  # already past: returns at once

    asyncio.run(run())
