"""`RequestIntake`: what it hands out around a hole, and what it may commit."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiokafka import TopicPartition

from schemas.broker_profile import BROKER_PROFILES
from streams.admission.intake import RequestIntake

TP = TopicPartition("t", 0)


@dataclass(frozen=True)
class Rec:
    offset: int
    topic: str = "t"
    partition: int = 0


async def nothing(_: set[TopicPartition]) -> None:
    return None


def intake(profile: str) -> RequestIntake:
    return RequestIntake({}, "t", BROKER_PROFILES[profile], 100, nothing)


def test_without_the_guard_every_fetched_record_is_handed_out() -> None:
    kafka = intake("kafka")
    kafka.next_of[TP] = 3
    assert [r.offset for r in kafka.without_holes(TP, [Rec(5), Rec(6)])] == [5, 6]
    assert kafka.next_of[TP] == 7


def test_with_the_guard_records_in_order_are_handed_out_and_followed() -> None:
    tansu = intake("tansu")
    tansu.next_of[TP] = None  # a group that never committed: the first record is taken
    assert [r.offset for r in tansu.without_holes(TP, [Rec(0), Rec(1), Rec(2)])] == [0, 1, 2]
    assert [r.offset for r in tansu.without_holes(TP, [Rec(3)])] == [3]
    assert tansu.next_of[TP] == 4


def test_records_of_a_partition_assigned_during_the_fetch_wait_for_its_rewind() -> None:
    tansu = intake("tansu")
    tansu.fresh.add(TP)
    assert list(tansu.without_holes(TP, [Rec(7), Rec(8)])) == []
    assert TP not in tansu.next_of


def test_only_decided_offsets_are_due_for_commit() -> None:
    tansu = intake("tansu")
    assert tansu.done == {}
    tansu.decided([Rec(0), Rec(1), Rec(2)])
    assert tansu.done == {TP: 3}
    asyncio.run(tansu.commit())  # not started: nothing to commit to, nothing recorded as committed
    assert tansu.committed == {}


def test_a_revocation_wakes_a_batch_taken_before_it() -> None:
    async def run() -> None:
        tansu = intake("tansu")
        generation = tansu.generation
        waiter = asyncio.create_task(tansu.revoked_since(generation))
        await asyncio.sleep(0)
        assert not waiter.done()
        await tansu.on_partitions_revoked([TP])
        await asyncio.wait_for(waiter, 5)
        assert tansu.generation != generation and tansu.next_of == {} and tansu.done == {}
        await asyncio.wait_for(tansu.revoked_since(generation), 5)  # already past: returns at once

    asyncio.run(run())
