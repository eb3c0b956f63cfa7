"""Admission's outputs: one open record batch per topic-partition, keyed records placed as the
producer's default partitioner would place them, nothing written to a topic not resolved at start."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from streams.admission.output_batches import OutputBatches


def with_batches(check: Callable[[OutputBatches], None]) -> None:
    async def scenario() -> None:
        # never started: `create_batch` needs no broker, and the partitions are set by hand
        producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1", max_batch_size=4096)
        outputs = OutputBatches(producer)
        outputs.partitions = {"lane": [0, 1, 2], "accepted": [0]}
        try:
            check(outputs)
        finally:
            await producer.stop()

    asyncio.run(scenario())


def test_keyed_records_land_where_the_default_partitioner_puts_them() -> None:
    def check(outputs: OutputBatches) -> None:
        keys = [f"task-{i}".encode() for i in range(30)]
        for key in keys:
            outputs.add("lane", key, b"{}")
            outputs.add("accepted", key, b"{}")
        expected = {("lane", DefaultPartitioner()(key, [0, 1, 2], [0, 1, 2])) for key in keys} | {("accepted", 0)}
        assert set(outputs.open) == expected
        assert outputs.queued == len(expected)

    with_batches(check)


def test_a_full_batch_is_set_aside_and_a_new_one_opened() -> None:
    def check(outputs: OutputBatches) -> None:
        for _ in range(20):
            outputs.add("accepted", None, b"x" * 500)
        assert len(outputs.full) >= 2 and {(t, p) for t, p, _ in outputs.full} == {("accepted", 0)}
        assert ("accepted", 0) in outputs.open

    with_batches(check)


def test_a_record_larger_than_a_batch_gets_a_batch_of_its_own() -> None:
    def check(outputs: OutputBatches) -> None:
        outputs.add("accepted", None, b"x" * 100)
        outputs.add("accepted", None, b"x" * 10_000)
        assert len(outputs.full) == 1 and outputs.open[("accepted", 0)].record_count() == 1

    with_batches(check)


def test_an_unresolved_topic_is_refused_clearly() -> None:
    def check(outputs: OutputBatches) -> None:
        with pytest.raises(LookupError, match="not resolved"):
            outputs.add("events.memory", None, b"{}")

    with_batches(check)
