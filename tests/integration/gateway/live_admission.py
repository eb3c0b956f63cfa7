"""The real `framegate admission` agent behind the gateway's contract tests, one per test module.

Every lane has a fresh heartbeat, so phr00t requests are accepted on their dedicated lane; anisora
is degraded to the shared lane, which `fill_shared_queue` brings to the seed's 25-item limit, so
the next standard anisora request is refused `queue_overloaded` by admission's own rule.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from schemas import ModelName, Priority, RouteLane, Topics
from schemas.policy import DEGRADED_QUEUE_POLICY
from streams.local_stack.topics import create_topics
from tests.broker_io import Logged, publish_events, publish_now, read_log
from tests.factories import degrade, heartbeat, request
from tests.integration.admission.harness import Agent
from tests.waiting import wait_until

#: The producer the gateway's `critical` test key stamps (tests/integration/gateway/server.py).
CRITICAL_PRODUCER = "ops-console"


@dataclass
class LiveAdmission:
    bootstrap: str
    topics: Topics
    agent: Agent

    def fill_shared_queue(self) -> None:
        """As many standard anisora requests as the shared queue holds, straight onto Kafka, each
        decided before this returns: whatever waited there before, the queue is full now.

        Items expire after the policy's queue wait, so a test fills right before it relies on
        the full queue."""
        limit = DEGRADED_QUEUE_POLICY.max_depth
        before = self.shared_decisions()
        reqs = [request(ModelName.anisora, task_id=f"fill-{uuid.uuid4().hex[:10]}",
                        priority=Priority.standard) for _ in range(limit)]
        publish_now(self.bootstrap, [(self.topics.tasks_requested, r.task_id.encode(), r.to_wire()) for r in reqs])
        wait_until(lambda: self.shared_decisions() >= before + limit, timeout_s=60,
                   what="the shared queue filled")

    def shared_decisions(self) -> float:
        """Requests admission accepted onto, or refused for, the shared queue so far."""
        accepted = self.agent.metric("framegate_admission_decisions_total", outcome="accepted",
                                     code="", lane="shared")
        return (accepted or 0.0) + self.overloaded()

    def overloaded(self) -> float:
        """Requests admission refused so far for the shared queue's depth."""
        return self.agent.metric("framegate_admission_decisions_total", outcome="rejected",
                                 code="queue_overloaded", lane="shared") or 0.0

    def requested(self, task_ids: set[str], expected: int) -> list[str]:
        """The ids among `task_ids` published on tasks.requested, read to the log's end once
        `expected` of them are there (a late extra one is read too)."""
        def ours(records: list[Logged]) -> list[str]:
            return [r.value["task_id"] for r in records if r.value.get("task_id") in task_ids]

        records = asyncio.run(read_log(self.bootstrap, [self.topics.tasks_requested], lambda rs: len(ours(rs)) >= expected))
        return ours(records)


@contextmanager
def live_admission(bootstrap: str, data_dir: Path) -> Iterator[LiveAdmission]:
    topics = Topics(prefix=f"gw{uuid.uuid4().hex[:10]}.")
    asyncio.run(create_topics(bootstrap, topics))
    events = [heartbeat(lane, worker=f"w-{lane.value}") for lane in RouteLane]
    publish_events(bootstrap, topics.events_lane, events, "lanes")
    publish_events(bootstrap, topics.events_lane, [degrade(RouteLane.anisora)], "anisora")
    agent = Agent(bootstrap, topics, data_dir,
                  extra_env={"FRAMEGATE_ADMISSION_CRITICAL_PRODUCERS": f'["{CRITICAL_PRODUCER}"]'})
    agent.start()
    try:
        agent.wait_role("active")
        yield LiveAdmission(bootstrap, topics, agent)
    finally:
        agent.stop()
