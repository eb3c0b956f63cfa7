"""Shared lane alternating anisora/phr00t: with a budget for both, each loads once and stays; with
a budget for one, every change evicts the other (cleaned up, reported) and RSS stays flat."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gpu_consumers.worker import LaneWorker
from schemas import (
    LaneEventType,
    LaneMode,
    MemoryEventType,
    ModelName,
    RouteLane,
    TaskStatus,
    Topics,
)
from tests.integration.gpu_consumers.gpu_lane_harness import (
    Observed,
    lane_settings,
    observing,
    publish_items,
    work_item,
)
from tests.waiting import async_wait_until

pytestmark = pytest.mark.integration
#: Declared needs of 1 GiB each, no reserve: a budget of 2.5 GiB holds both, 1.5 GiB holds one.
NEEDS = {"lane_need_gib_anisora": 1.0, "lane_need_gib_phr00t": 1.0}


def after_job_rss(seen: Observed, task_id: str) -> float:
    """RSS measured after the job's own cleanup (the last cleanup event of the task)."""
    values = [m.value for m in seen.memory
              if m.task_id == task_id and m.event_type is MemoryEventType.memory_cleanup]
    assert values and isinstance(values[-1], float)
    return values[-1]


def run_alternating(
    jobs: int, budget_gib: float, kafka_bootstrap: str, topics: Topics, model_dir: Path, tmp_path: Path
) -> tuple[LaneWorker, Observed, list[str], list[ModelName]]:
    settings = lane_settings(kafka_bootstrap, topics, model_dir, tmp_path / "artifacts",
                             lane_model_budget_gib=budget_gib, **NEEDS)
    models = [ModelName.phr00t, ModelName.anisora]  # the worker warms up anisora
    ids = [f"swap-{i:04d}" for i in range(jobs)]
    # Published as the lane drains: degraded items older than 30 s are (rightly) dropped, and a
    # model load per job on a busy 2-core host takes seconds.
    batch = 4

    async def scenario() -> tuple[LaneWorker, Observed]:
        worker = LaneWorker(RouteLane.shared, settings)
        stop = asyncio.Event()
        async with observing(kafka_bootstrap, topics) as seen:
            running = asyncio.create_task(worker.run(stop))
            for start in range(0, jobs, batch):
                chunk = ids[start:start + batch]
                items = [
                    work_item(models[int(t[-4:]) % 2], RouteLane.shared, lane_mode=LaneMode.degraded_shared,
                              task_id=t)
                    for t in chunk
                ]
                await publish_items(kafka_bootstrap, topics, items, partition=0)
                await async_wait_until(lambda c=chunk: seen.ended(c) or running.done(), 60,  # type: ignore[misc]
                                       what=f"jobs {start}..{start + len(chunk)}")
            await async_wait_until(
                lambda: sum(e.event_type is LaneEventType.model_loaded for e in seen.lanes) == worker.models.loads,
                10, what="every model event read back",
            )
            stop.set()
            await running
        return worker, seen

    worker, seen = asyncio.run(scenario())
    for task_id in ids:
        assert seen.statuses(task_id) == [TaskStatus.processing, TaskStatus.done]
    return worker, seen, ids, models


@pytest.mark.timeout(180)
def test_a_budget_for_both_models_loads_each_once(
    kafka_bootstrap: str, topics: Topics, tiny_model_dir: Path, tmp_path: Path
) -> None:
    worker, seen, ids, _ = run_alternating(12, 2.5, kafka_bootstrap, topics, tiny_model_dir, tmp_path)
    assert worker.models.loads == 2 and worker.models.evictions == 0
    loads = [(e.served_model, e.note) for e in seen.lanes if e.event_type is LaneEventType.model_loaded]
    assert loads == [(ModelName.anisora, "first_use"), (ModelName.phr00t, "first_use")]
    assert not [e for e in seen.lanes if e.event_type is LaneEventType.model_evicted]
    # Only the per-job cleanup: no eviction cleanups.
    for task_id in ids:
        cleanups = [m for m in seen.memory if m.task_id == task_id and m.event_type is MemoryEventType.memory_cleanup]
        assert len(cleanups) == 1


@pytest.mark.parametrize(
    "jobs",
    [
        pytest.param(12, marks=pytest.mark.timeout(180)),
        pytest.param(200, marks=[pytest.mark.soak, pytest.mark.timeout(900)]),
    ],
)
def test_a_budget_for_one_model_evicts_on_every_change_with_cleanup(
    jobs: int, kafka_bootstrap: str, topics: Topics, tiny_model_dir: Path, tmp_path: Path
) -> None:
    worker, seen, ids, models = run_alternating(jobs, 1.5, kafka_bootstrap, topics, tiny_model_dir, tmp_path)
    assert worker.models.loads == jobs + 1 and worker.models.evictions == jobs
    evicted = [(e.served_model, e.note) for e in seen.lanes if e.event_type is LaneEventType.model_evicted]
    assert evicted == [(models[(i + 1) % 2], f"make_room_for_{models[i % 2].value}") for i in range(jobs)]
    for i, task_id in enumerate(ids):
        # The eviction cleanup names the model that was unloaded to make room for this job.
        unloaded = models[(i + 1) % 2]
        swap = [m for m in seen.memory if m.task_id == task_id and m.model is unloaded
                and m.event_type is MemoryEventType.memory_cleanup]
        assert len(swap) == 1, f"job {i}: expected one eviction cleanup of {unloaded.value}"
        assert isinstance(swap[0].value, float) and swap[0].value > 0
    first, last = after_job_rss(seen, ids[min(9, jobs - 1)]), after_job_rss(seen, ids[-1])
    print(f"RSS after job 10: {first:.4f} GiB, after job {jobs}: {last:.4f} GiB ({(last / first - 1) * 100:+.2f}%)")
    if jobs >= 200:
        assert abs(last - first) <= 0.05 * first
