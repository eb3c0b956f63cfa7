"""`RecordIntake`: fetches in, batches out, bounded, cleared on revocation."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from faust.types import Message

from streams.admission.intake import RecordIntake


def records(*offsets: int) -> list[Message]:
    # The intake only queues records; an offset stands in for each.
    return [cast(Message, offset) for offset in offsets]


def test_batches_keep_fetch_order_and_the_size_bound() -> None:
    async def run() -> list[list[Any]]:
        intake = RecordIntake(limit=100)
        intake.put_many(records(0, 1, 2))
        intake.put_many(records(3, 4))
        return [await intake.take(4), await intake.take(4)]

    assert asyncio.run(run()) == [[0, 1, 2, 3], [4]]


def test_take_waits_for_the_next_fetch() -> None:
    async def run() -> list[Any]:
        intake = RecordIntake(limit=100)
        taking = asyncio.create_task(intake.take(10))
        await asyncio.sleep(0)
        assert not taking.done()
        intake.put_many(records(7))
        return await asyncio.wait_for(taking, 5)

    assert asyncio.run(run()) == [7]


def test_room_closes_at_the_limit_and_opens_when_a_batch_is_taken() -> None:
    async def run() -> None:
        intake = RecordIntake(limit=3)
        intake.put_many(records(0, 1))
        assert intake.room.is_set()
        intake.put_many(records(2))
        assert not intake.room.is_set()
        await intake.take(1)
        assert intake.room.is_set() and len(intake) == 2

    asyncio.run(run())


@pytest.mark.parametrize("cleared", [True, False])
def test_clear_drops_waiting_records_and_wakes_a_batch_taken_before(cleared: bool) -> None:
    async def run() -> None:
        intake = RecordIntake(limit=2)
        intake.put_many(records(0, 1, 2))
        batch = await intake.take(1)
        generation = intake.generation
        waiter = asyncio.create_task(intake.cleared_since(generation))
        await asyncio.sleep(0)
        assert batch == [0] and not waiter.done()
        if cleared:
            intake.clear()
            await asyncio.wait_for(waiter, 5)
            assert len(intake) == 0 and intake.generation != generation and intake.room.is_set()
            await asyncio.wait_for(intake.cleared_since(generation), 5)  # already past: returns at once
        else:
            intake.put_many(records(3))
            await asyncio.sleep(0)
            assert not waiter.done() and len(intake) == 3
            waiter.cancel()

    asyncio.run(run())
