"""A fetch that skips offsets of `events.task` is read again by the task ledger: no `done` of
another worker is missed (a missed one would let a redelivered task run twice)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from gpu_consumers.task_ledger import TaskLedger
from schemas import TaskStatus, Topics
from tests.broker_io import PROFILE
from tests.integration.gpu_consumers.test_lane_ledger_window import publish_done
from tests.waiting import async_wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
AGE = timedelta(minutes=1)


def test_the_ledger_reads_again_what_a_fetch_skipped(kafka_bootstrap: str, topics: Topics) -> None:
    async def scenario() -> TaskLedger:
        await publish_done(kafka_bootstrap, topics, [f"t{i}" for i in range(4)], AGE)
        consumer = AIOKafkaConsumer(**PROFILE.consumer_kwargs(kafka_bootstrap, None))
        ledger = TaskLedger(topics.events_task, {}, profile=PROFILE, window_s=3600.0,
                            consumer=consumer)
        await ledger.start()
        try:
            await async_wait_until(lambda: ledger.records_read == 4, 30, what="the first four events")
            tp = TopicPartition(topics.events_task, 0)
            consumer.pause(tp)
            await publish_done(kafka_bootstrap, topics, [f"t{i}" for i in range(4, 8)], AGE)
            consumer.seek(tp, 6)  # the next fetch starts two records late, as a skipping broker answers
            consumer.resume(tp)
            await async_wait_until(lambda: ledger.records_read >= 8, 30, what="all eight events")
            return ledger
        finally:
            await ledger.stop()

    ledger = asyncio.run(scenario())
    assert ledger.records_read == 8
    assert all(ledger.fold.status.get(f"t{i}") is TaskStatus.done for i in range(8))
