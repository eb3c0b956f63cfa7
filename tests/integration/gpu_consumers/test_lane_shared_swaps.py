"""Shared lane alternating anisora/phr00t: every swap cleans up; RSS stays flat over many jobs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gpu_consumers.worker import LaneWorker
from schemas import LaneMode, MemoryEventType, ModelName, RouteLane, TaskStatus, Topics
from tests.integration.gpu_consumers.gpu_lane_harness import (
    Observed,
    lane_settings,
    observing,
    publish_items,
    work_item,
)
from tests.waiting import async_wait_until

pytestmark = pytest.mark.integration


def after_job_rss(seen: Observed, task_id: str) -> float:
    """RSS measured after the job's own cleanup (the last cleanup event of the task)."""
    values = [m.value for m in seen.memory
              if m.task_id == task_id and m.event_type is MemoryEventType.memory_cleanup]
    assert values and isinstance(values[-1], float)
    return values[-1]


@pytest.mark.parametrize(
    "jobs",
    [
        pytest.param(12, marks=pytest.mark.timeout(180)),
        pytest.param(200, marks=[pytest.mark.soak, pytest.mark.timeout(900)]),
    ],
)
def test_shared_lane_alternates_models_with_cleanup_on_every_swap(
    jobs: int, kafka_bootstrap: str, topics: Topics, tiny_model_dir: Path, tmp_path: Path
) -> None:
    lane = RouteLane.shared
    settings = lane_settings(kafka_bootstrap, topics, tiny_model_dir, tmp_path / "artifacts")
    models = [ModelName.phr00t, ModelName.anisora]  # the worker warms up anisora: job 0 swaps
    ids = [f"swap-{i:04d}" for i in range(jobs)]
    batch = 10  # published as the lane drains: degraded items older than 30 s are (rightly) dropped

    async def scenario() -> Observed:
        worker = LaneWorker(lane, settings)
        stop = asyncio.Event()
        async with observing(kafka_bootstrap, topics) as seen:
            running = asyncio.create_task(worker.run(stop))
            for start in range(0, jobs, batch):
                chunk = ids[start:start + batch]
                items = [
                    work_item(models[int(t[-4:]) % 2], lane, lane_mode=LaneMode.degraded_shared, task_id=t)
                    for t in chunk
                ]
                await publish_items(kafka_bootstrap, topics, items, partition=0)
                await async_wait_until(lambda c=chunk: seen.ended(c) or running.done(), 60,  # type: ignore[misc]
                                       what=f"jobs {start}..{start + len(chunk)}")
            stop.set()
            await running
        assert worker.slot.swaps == jobs
        return seen

    seen = asyncio.run(scenario())
    for i, task_id in enumerate(ids):
        assert seen.statuses(task_id) == [TaskStatus.processing, TaskStatus.done]
        # The swap cleanup names the model that was unloaded to make room for this job.
        unloaded = models[(i + 1) % 2]
        swap = [m for m in seen.memory if m.task_id == task_id and m.model is unloaded
                and m.event_type is MemoryEventType.memory_cleanup]
        assert len(swap) == 1, f"job {i}: expected one swap cleanup of {unloaded.value}"
        assert isinstance(swap[0].value, float) and swap[0].value > 0
    first, last = after_job_rss(seen, ids[min(9, jobs - 1)]), after_job_rss(seen, ids[-1])
    print(f"RSS after job 10: {first:.4f} GiB, after job {jobs}: {last:.4f} GiB ({(last / first - 1) * 100:+.2f}%)")
    if jobs >= 200:
        assert abs(last - first) <= 0.05 * first
