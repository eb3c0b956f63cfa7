"""Stopping a lane worker is bounded: with the broker gone, and (see below) mid-job."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest

from gpu_consumers.worker import LaneWorker
from schemas import ModelName, RouteLane, TaskStatus, Topics
from streams.local_stack.broker import LocalBroker, free_port
from streams.local_stack.topics import create_topics
from tests.integration.gpu_consumers.gpu_lane_harness import (
    lane_settings,
    observing,
    publish_items,
    work_item,
)
from tests.waiting import async_wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def test_a_worker_waiting_on_its_ledger_with_the_broker_down_stops_on_request(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """The ledger cannot catch up (broker gone) after a reassignment: stop still ends `run`.

    A private broker (this test kills it). Item A runs slowly; B is already fetched into the
    consumer's buffer. While A runs, the broker dies and the partitions are (as far as the ledger
    knows) reassigned, so B waits for a catch-up that cannot happen. Stop must end the run within
    the grace, not after the clients' 40 s request timeouts, and nothing for B is published.
    """
    broker = LocalBroker(port=free_port(), log_path=tmp_path / "tansu.log").start()
    bootstrap = broker.bootstrap
    topics = Topics(prefix=f"t{uuid.uuid4().hex[:10]}.")
    try:
        asyncio.run(create_topics(bootstrap, topics))
        grace = 2.0
        settings = lane_settings(
            bootstrap, topics, tiny_model_dir, tmp_path / "artifacts",
            lane_step_delay_s=0.5, lane_shutdown_grace_s=grace, lane_done_catchup_timeout_s=0.5,
        )
        a = work_item(ModelName.phr00t, RouteLane.phr00t)
        b = work_item(ModelName.phr00t, RouteLane.phr00t)

        async def scenario() -> float:
            await publish_items(bootstrap, topics, [a, b], partition=0)
            worker = LaneWorker(RouteLane.phr00t, settings)
            stop = asyncio.Event()
            async with observing(bootstrap, topics) as seen:
                running = asyncio.create_task(worker.run(stop))
                await async_wait_until(
                    lambda: seen.statuses(str(a.task_id)) == [TaskStatus.processing] or running.done(), 60,
                    what="A processing",
                )
            assert not running.done()
            broker.stop()
            assert worker.ledger is not None
            worker.ledger.refresh()  # what the rebalance listener does on an assignment
            await async_wait_until(lambda: worker.items_seen == 2 or running.done(), 30, what="B in hand")
            assert not running.done() and worker.jobs_run == 1
            # B is held: the ledger cannot read the log's end with the broker gone.
            assert worker.status.view().sessions_in_use == 0
            stopped_at = time.monotonic()
            stop.set()
            await asyncio.wait_for(running, timeout=30)
            return time.monotonic() - stopped_at

        took = asyncio.run(scenario())
        print(f"stopped {took:.2f}s after the stop request (grace {grace}s)")
        # One grace for everything after stop, plus the worker's own scheduling slack.
        assert took < grace + 3.0, f"stop took {took:.1f}s"
    finally:
        broker.stop()
