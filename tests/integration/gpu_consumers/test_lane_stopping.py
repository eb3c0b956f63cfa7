"""Stopping a lane worker is bounded: with the broker gone, and mid-job (the shutdown grace)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
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
    spawn_worker,
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
            assert worker.ledger is not None
            # What the rebalance listener does on an assignment; before the broker goes, as
            # `broker.stop()` blocks this loop for seconds while the job thread goes on.
            worker.ledger.refresh()
            broker.stop()
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


def test_sigterm_mid_job_abandons_it_after_the_grace_and_it_is_redelivered(
    kafka_bootstrap: str, topics: Topics, tiny_model_dir: Path, tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
) -> None:
    """A 16 s stand-in job (anisora: 8 steps x 2 s), SIGTERM after it started, a 2 s grace: the
    process exits long before the job would have ended, says so, publishes no terminal event
    and commits nothing; the next worker of the group runs the item again."""
    lane, grace, step_s, steps = RouteLane.anisora, 2.0, 2.0, 8
    proc = spawn_worker(
        lane, "slow-worker", kafka_bootstrap, topics, tiny_model_dir, tmp_path,
        FRAMEGATE_LANE_STEP_DELAY_S=str(step_s), FRAMEGATE_LANE_SHUTDOWN_GRACE_S=str(grace),
    )
    processes.append(proc)
    item = work_item(ModelName.anisora, lane)
    task_id = str(item.task_id)
    settings = lane_settings(kafka_bootstrap, topics, tiny_model_dir, tmp_path / "artifacts")

    async def scenario() -> float:
        async with observing(kafka_bootstrap, topics) as seen:
            await async_wait_until(lambda: any(e.worker_id == "slow-worker" and e.warm for e in seen.lanes), 90,
                                   what="the slow worker warm")
            await publish_items(kafka_bootstrap, topics, [item])
            await async_wait_until(lambda: TaskStatus.processing in seen.statuses(task_id), 60, what="processing")
            signalled = time.monotonic()
            os.kill(proc.pid, signal.SIGTERM)
            await asyncio.to_thread(proc.wait, 60)
            took = time.monotonic() - signalled
            assert seen.terminal(task_id) == []

            worker = LaneWorker(lane, settings)  # the group's next member: the item comes back
            stop = asyncio.Event()
            running = asyncio.create_task(worker.run(stop))
            await async_wait_until(lambda: bool(seen.terminal(task_id)) or running.done(), 90, what="redelivered done")
            stop.set()
            await running
        events = [e for e in seen.tasks if e.task_id == task_id]
        assert [e.task.status for e in events] == [
            TaskStatus.processing, TaskStatus.pending, TaskStatus.processing, TaskStatus.done
        ]
        assert events[0].worker_id == "slow-worker" and events[2].worker_id == worker.worker_id
        assert events[2].attempt == 1
        return took

    took = asyncio.run(scenario())
    print(f"SIGTERM mid-job: exited after {took:.1f}s (grace {grace}s, the job needed {steps * step_s:.0f}s)")
    assert proc.returncode == 0
    # The grace, then at most the step in progress: far less than the job itself.
    assert took < grace + step_s + 3.0 < steps * step_s
    log = (tmp_path / "slow-worker.log").read_text()
    assert f"abandoning task {task_id}: still running 2 s after stop" in log
    assert "it will be redelivered" in log
