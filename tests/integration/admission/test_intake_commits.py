"""Requests taken through admission's intake are committed once their decisions are acknowledged."""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from schemas import DecisionOutcome, ModelName, Topics
from tests.factories import request
from tests.integration.admission.harness import Agent, decisions, lanes_ready, publish
from tests.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

REQUESTS = 40
#: Requests sent one after another, each once the previous one's decision arrived.
ONE_BY_ONE = 5


def committed(bootstrap: str, group: str, topic: str) -> int | None:
    """The group's committed offset on partition 0 of `topic` (None before its first commit)."""
    async def fetch() -> int | None:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
        await consumer.start()
        try:
            return await consumer.committed(TopicPartition(topic, 0))
        finally:
            await consumer.stop()
    return asyncio.run(fetch())


def test_decided_requests_are_committed(kafka_bootstrap: str, topics: Topics, tmp_path: Path) -> None:
    lanes_ready(kafka_bootstrap, topics)
    reqs = [request(ModelName.anisora if i % 2 else ModelName.phr00t) for i in range(REQUESTS)]
    with Agent(kafka_bootstrap, topics, tmp_path).running():
        asyncio.run(publish(kafka_bootstrap, [(topics.tasks_requested, r.to_wire(), r.task_id.encode(), 0, None)
                                              for r in reqs]))
        got = decisions(kafka_bootstrap, topics, REQUESTS)
        assert {d.task_id for d in got} == {r.task_id for r in reqs}
        assert all(d.outcome is DecisionOutcome.accepted for d in got)
        # the intake commits decided offsets on admission's commit timer
        group = f"{topics.prefix}admission"
        wait_until(lambda: committed(kafka_bootstrap, group, topics.tasks_requested) == REQUESTS, 30, 0.5,
                   what=f"admission's committed offset on tasks.requested to reach {REQUESTS}")


async def one_by_one(bootstrap: str, topics: Topics, count: int) -> list[float]:
    """Seconds from sending each request to reading its decision, the next sent only then: each
    lands while the agent's fetch of an idle partition is waiting."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, fetch_max_wait_ms=10, enable_auto_commit=False)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, acks="all")
    await consumer.start()
    await producer.start()
    tp = TopicPartition(topics.tasks_accepted, 0)
    consumer.assign([tp])
    await consumer.seek_to_end(tp)
    await consumer.position(tp)
    took: list[float] = []
    try:
        for _ in range(count):
            req = request(ModelName.phr00t)
            started = time.perf_counter()
            await producer.send_and_wait(topics.tasks_requested, req.to_wire(), key=req.task_id.encode(), partition=0)
            deadline = started + 30
            while not any(req.task_id.encode() == r.key for rs in (await consumer.getmany(timeout_ms=100)).values()
                          for r in rs):
                assert time.perf_counter() < deadline, f"{req.task_id} was not decided"
            took.append(time.perf_counter() - started)
    finally:
        await producer.stop()
        await consumer.stop()
    return took


def test_an_idle_partition_is_fetched_with_the_profile_wait(kafka_bootstrap: str, topics: Topics,
                                                            tmp_path: Path) -> None:
    # A fetch wait of seconds (Faust's own worker consumer) would hold every one of these requests
    # until that wait ran out: tansu does not answer a waiting fetch early.
    lanes_ready(kafka_bootstrap, topics)
    with Agent(kafka_bootstrap, topics, tmp_path).running():
        asyncio.run(publish(kafka_bootstrap, [(topics.tasks_requested, request(ModelName.phr00t).to_wire(), None, 0, None)]))
        decisions(kafka_bootstrap, topics, 1)  # the group join is start-up, not under test
        took = asyncio.run(one_by_one(kafka_bootstrap, topics, ONE_BY_ONE))
    assert statistics.median(took) < 0.3, took
