"""A restarted worker reads only the ledger window of a long `events.task`, not offset 0."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import pytest

from gpu_consumers.worker import LaneWorker
from schemas import ModelName, RouteLane, TaskStatus, Topics
from schemas.envelope import utc_now
from schemas.tasks import TaskEvent
from tests.broker_io import publish
from tests.factories import task_event
from tests.integration.gpu_consumers.gpu_lane_harness import (
    lane_settings,
    observing,
    publish_items,
    work_item,
)
from tests.waiting import async_wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
OLD = 1000


def done_event(task_id: str, age: timedelta) -> TaskEvent:
    return task_event(TaskStatus.done, task_id, RouteLane.phr00t, task_type="text_to_video", at=utc_now() - age,
                      worker_id="earlier-worker", artifact_path=f"/tmp/{task_id}.mp4")


async def write_history(bootstrap: str, topics: Topics, recent: list[str]) -> None:
    """OLD `done` events stamped three days ago, then the recent ones (one record per batch)."""
    three_days_ms = int((time.time() - 3 * 86400) * 1000)
    for i in range(OLD):
        event = done_event(f"old-{i:05d}", timedelta(days=3))
        await publish(bootstrap, [(topics.events_task, event.task_id.encode(), event.to_wire())],
                      one_at_a_time=True, timestamp_ms=three_days_ms + i)
    await publish_done(bootstrap, topics, recent, timedelta(minutes=5))


async def publish_done(bootstrap: str, topics: Topics, ids: list[str], age: timedelta) -> None:
    """A `done` of another worker for each task, `age` ago, one record per batch."""
    events = [done_event(task_id, age) for task_id in ids]
    await publish(bootstrap, [(topics.events_task, e.task_id.encode(), e.to_wire()) for e in events],
                  one_at_a_time=True)


def test_a_restarted_worker_reads_only_its_window_of_a_long_task_log(
    kafka_bootstrap: str, topics: Topics, tiny_model_dir: Path, tmp_path: Path
) -> None:
    recent = [f"recent-{i}" for i in range(5)]
    settings = lane_settings(kafka_bootstrap, topics, tiny_model_dir, tmp_path / "artifacts",
                             lane_ledger_window_h=24.0)
    # A redelivered item of a task finished minutes ago, and one finished three days ago.
    again_recent = work_item(ModelName.phr00t, RouteLane.phr00t, task_id=recent[0])
    again_old = work_item(ModelName.phr00t, RouteLane.phr00t, task_id="old-00007")
    marker = work_item(ModelName.phr00t, RouteLane.phr00t)

    async def scenario() -> None:
        await write_history(kafka_bootstrap, topics, recent)
        worker = LaneWorker(RouteLane.phr00t, settings)
        stop = asyncio.Event()
        async with observing(kafka_bootstrap, topics) as seen:
            running = asyncio.create_task(worker.run(stop))
            await publish_items(kafka_bootstrap, topics, [again_recent, again_old, marker], partition=0)
            ids = [str(again_old.task_id), str(marker.task_id)]
            await async_wait_until(
                lambda: all(TaskStatus.done in seen.statuses(t) for t in ids) or running.done(), 90,
                what="the old task re-run and the marker done",
            )
            stop.set()
            await running
        assert worker.ledger is not None
        # The window: the 5 recent records and the worker's own events, none of the 1000 old ones.
        own = sum(1 for e in seen.tasks if e.worker_id == worker.worker_id)
        assert worker.ledger.records_read == len(recent) + own
        assert worker.ledger.fold.status.get("old-00001") is None
        # Inside the window: skipped. Older than the window: run again (the documented trade-off).
        assert seen.statuses(recent[0]) == [TaskStatus.done]
        assert seen.statuses("old-00007") == [TaskStatus.done, TaskStatus.processing, TaskStatus.done]

    asyncio.run(scenario())
