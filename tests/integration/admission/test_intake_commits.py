"""Requests taken through admission's intake are committed once their decisions are acknowledged."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas import DecisionOutcome, ModelName, Topics
from tests.factories import request
from tests.integration.admission.harness import Agent, decisions, lanes_ready, publish
from tests.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

REQUESTS = 40


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
