"""Requests taken through admission's intake are committed once their decisions are acknowledged."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from schemas import DecisionOutcome, ModelName, Topics
from tests.broker_io import Logged, committed_offset, decisions, publish_now, publishing, reading
from tests.factories import request
from tests.integration.admission.harness import Agent, lanes_ready
from tests.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

REQUESTS = 40
#: Requests sent one after another, each once the previous one's decision arrived.
ONE_BY_ONE = 5


def test_decided_requests_are_committed(kafka_bootstrap: str, topics: Topics, tmp_path: Path) -> None:
    lanes_ready(kafka_bootstrap, topics)
    reqs = [request(ModelName.anisora if i % 2 else ModelName.phr00t) for i in range(REQUESTS)]
    with Agent(kafka_bootstrap, topics, tmp_path).running():
        publish_now(kafka_bootstrap, [(topics.tasks_requested, r.task_id.encode(), r.to_wire()) for r in reqs],
                    partition=0)
        got = decisions(kafka_bootstrap, topics, REQUESTS)
        assert {d.task_id for d in got} == {r.task_id for r in reqs}
        assert all(d.outcome is DecisionOutcome.accepted for d in got)
        # the intake commits decided offsets on admission's commit timer
        group = f"{topics.prefix}admission"
        wait_until(lambda: committed_offset(kafka_bootstrap, group, topics.tasks_requested) == REQUESTS, 30, 0.5,
                   what=f"admission's committed offset on tasks.requested to reach {REQUESTS}")


def keyed(key: bytes) -> Callable[[list[Logged]], bool]:
    return lambda records: any(r.key == key for r in records)


async def one_by_one(bootstrap: str, topics: Topics, count: int) -> list[float]:
    """Seconds from sending each request to reading its decision, the next sent only then: each
    lands while the agent's fetch of an idle partition is waiting."""
    took: list[float] = []
    async with reading(bootstrap, [topics.tasks_accepted], from_end=True) as decided, \
            publishing(bootstrap, one_at_a_time=True) as publisher:
        for _ in range(count):
            req = request(ModelName.phr00t)
            key = req.task_id.encode()
            started = time.perf_counter()
            await publisher.acknowledged((topics.tasks_requested, key, req.to_wire()), partition=0)
            await decided.until(keyed(key), 30)
            took.append(time.perf_counter() - started)
    return took


def test_an_idle_partition_is_fetched_with_the_profile_wait(kafka_bootstrap: str, topics: Topics,
                                                            tmp_path: Path) -> None:
    # A fetch wait of seconds (Faust's own worker consumer) would hold every one of these requests
    # until that wait ran out: tansu does not answer a waiting fetch early.
    lanes_ready(kafka_bootstrap, topics)
    with Agent(kafka_bootstrap, topics, tmp_path).running():
        publish_now(kafka_bootstrap, [(topics.tasks_requested, None, request(ModelName.phr00t).to_wire())], partition=0)
        decisions(kafka_bootstrap, topics, 1)  # the group join is start-up, not under test
        took = asyncio.run(one_by_one(kafka_bootstrap, topics, ONE_BY_ONE))
    assert statistics.median(took) < 0.3, took
