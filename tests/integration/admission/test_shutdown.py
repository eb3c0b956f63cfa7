"""A stop is bounded: admission given SIGTERM with its broker gone exits within the grace."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from schemas import RouteLane, Topics
from streams.local_stack.broker import LocalBroker, free_port
from streams.local_stack.topics import create_topics
from tests.broker_io import publish_events
from tests.factories import heartbeat
from tests.integration.admission.harness import Agent

pytestmark = pytest.mark.integration

GRACE_S = 8.0


def test_sigterm_with_the_broker_gone_exits_within_the_grace(tmp_path: Path) -> None:
    broker = LocalBroker(port=free_port(), log_path=tmp_path / "tansu.log").start()
    agent: Agent | None = None
    try:
        topics = Topics(prefix=f"stop{uuid.uuid4().hex[:8]}.")
        asyncio.run(create_topics(broker.bootstrap, topics))
        publish_events(broker.bootstrap, topics.events_lane, [heartbeat(RouteLane.phr00t)], "phr00t")
        agent = Agent(broker.bootstrap, topics, tmp_path,
                      extra_env={"FRAMEGATE_ADMISSION_SHUTDOWN_GRACE_S": str(GRACE_S)}).start()
        broker.stop()
        proc = agent.process
        assert proc is not None
        started = time.monotonic()
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(GRACE_S + 10.0)
        except subprocess.TimeoutExpired:
            pytest.fail(f"admission still running {GRACE_S + 10.0:g}s after SIGTERM (grace {GRACE_S:g}s)")
        took = time.monotonic() - started
        print(f"admission exited {took:.1f}s after SIGTERM with the broker gone (grace {GRACE_S:g}s)")
        assert took <= GRACE_S + 10.0
    finally:
        if agent is not None:
            agent.stop()
        broker.stop()
