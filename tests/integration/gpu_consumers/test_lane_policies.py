"""Queue timeouts, injected OOMs and memory refusals through a real worker on the real broker."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from gpu_consumers.worker import LaneWorker
from schemas import (
    Availability,
    LaneEventType,
    LaneMode,
    MemoryEventType,
    ModelName,
    Priority,
    RouteLane,
    TaskErrorCode,
    TaskStatus,
    Topics,
)
from schemas.envelope import utc_now
from schemas.event_ids import queue_timeout_event_id
from schemas.policy import DEGRADED_QUEUE_POLICY
from tests.integration.gpu_consumers.gpu_lane_harness import (
    lane_settings,
    observing,
    publish_items,
    work_item,
)
from tests.waiting import async_wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def test_old_degraded_items_are_never_run_and_injected_ooms_are_survived(
    kafka_bootstrap: str, topics: Topics, tiny_model_dir: Path, tmp_path: Path
) -> None:
    lane, shared = RouteLane.shared, LaneMode.degraded_shared
    settings = lane_settings(
        kafka_bootstrap, topics, tiny_model_dir, tmp_path / "artifacts", lane_fault_oom_task_prefix="oom-"
    )
    old = utc_now() - timedelta(seconds=DEGRADED_QUEUE_POLICY.max_wait_seconds + 1)
    stale = work_item(ModelName.anisora, lane, lane_mode=shared, occurred_at=old)
    stale_2 = work_item(ModelName.phr00t, lane, lane_mode=shared, occurred_at=old)
    oom_standard = work_item(ModelName.anisora, lane, lane_mode=shared, task_id="oom-standard-1")
    oom_critical = work_item(
        ModelName.anisora, lane, lane_mode=shared, task_id="oom-critical-1", priority=Priority.critical
    )
    after = work_item(ModelName.phr00t, lane, lane_mode=shared)
    # stale is delivered twice (a redelivery): still one queue_timeout for it.
    items = [stale, stale_2, stale, oom_standard, oom_critical, after]
    ids = [str(i.task_id) for i in items]

    async def scenario() -> None:
        worker = LaneWorker(lane, settings)
        stop = asyncio.Event()
        async with observing(kafka_bootstrap, topics) as seen:
            running = asyncio.create_task(worker.run(stop))
            await publish_items(kafka_bootstrap, topics, items)
            await async_wait_until(lambda: seen.ended(ids) or running.done(), 90, what="terminal events")
            stop.set()
            await running

        # Timeout: never started, queue_timeout with the waited seconds, failed queue_overloaded.
        assert seen.statuses(str(stale.task_id)) == [TaskStatus.failed]
        failed = seen.terminal(str(stale.task_id))[0]
        assert failed.error_code is TaskErrorCode.queue_overloaded
        timeouts = [m for m in seen.memory if m.event_type is MemoryEventType.queue_timeout]
        # Exactly one per expired task, under the id any service derives from the task (lane items
        # are spread over two partitions, so in no fixed order).
        assert {str(m.task_id): m.event_id for m in timeouts} == {
            str(t.task_id): queue_timeout_event_id(str(t.task_id)) for t in (stale, stale_2)
        }
        assert len(timeouts) == 2
        assert seen.statuses(str(stale_2.task_id)) == [TaskStatus.failed]
        assert isinstance(timeouts[0].value, float)
        assert timeouts[0].value > DEGRADED_QUEUE_POLICY.max_wait_seconds
        assert timeouts[0].value_unit == "wait_seconds" and timeouts[0].lane_mode is shared

        # OOM, standard priority: cleaned up, retried once one step lower (32x32 -> 16x16), done.
        done = seen.terminal("oom-standard-1")[0]
        assert done.task.status is TaskStatus.done and done.attempt == 1
        cleanups = [m for m in seen.memory if m.task_id == "oom-standard-1"
                    and m.event_type is MemoryEventType.memory_cleanup]
        assert len(cleanups) == 2  # after the OOM, and after the job
        assert done.artifact_path and done.artifact_write_ms

        # OOM, critical: never degraded, so failed with gpu_oom and a reason.
        crit = seen.terminal("oom-critical-1")[0]
        assert crit.error_code is TaskErrorCode.gpu_oom
        assert "critical" in str(crit.task.error_msg)

        # And the worker kept serving.
        assert seen.terminal(str(after.task_id))[0].task.status is TaskStatus.done
        assert worker.jobs_run == 3

    asyncio.run(scenario())


def test_shared_lane_refuses_a_load_that_does_not_fit_and_keeps_serving(
    kafka_bootstrap: str, topics: Topics, tiny_model_dir: Path, tmp_path: Path
) -> None:
    lane, shared = RouteLane.shared, LaneMode.degraded_shared
    # Far more than any host has free: phr00t must be refused before loading, not OOM mid-load.
    settings = lane_settings(
        kafka_bootstrap, topics, tiny_model_dir, tmp_path / "artifacts", lane_need_gib_phr00t=1.0e6
    )
    too_big = work_item(ModelName.phr00t, lane, lane_mode=shared)
    fine = work_item(ModelName.anisora, lane, lane_mode=shared)
    ids = [str(too_big.task_id), str(fine.task_id)]

    async def scenario() -> None:
        worker = LaneWorker(lane, settings)
        stop = asyncio.Event()
        async with observing(kafka_bootstrap, topics) as seen:
            running = asyncio.create_task(worker.run(stop))
            await publish_items(kafka_bootstrap, topics, [too_big, fine])
            await async_wait_until(lambda: seen.ended(ids) or running.done(), 60, what="terminal events")
            stop.set()
            await running
        refused = seen.terminal(str(too_big.task_id))[0]
        assert refused.error_code is TaskErrorCode.insufficient_memory
        assert "refusing to load phr00t" in str(refused.task.error_msg)
        # A model that cannot fit even alone is refused without evicting the warm one (anisora).
        assert not [m for m in seen.memory if m.task_id == too_big.task_id
                    and m.event_type is MemoryEventType.memory_cleanup and m.model is ModelName.anisora]
        assert not [e for e in seen.lanes if e.event_type is LaneEventType.model_evicted]
        assert seen.terminal(str(fine.task_id))[0].task.status is TaskStatus.done
        assert any(e.availability is Availability.ready for e in seen.lanes)

    asyncio.run(scenario())


def test_a_lane_whose_model_cannot_load_reports_unavailable(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    lane = RouteLane.anisora
    settings = lane_settings(
        kafka_bootstrap, topics, tmp_path / "no-models", tmp_path / "artifacts", lane_max_load_failures=2
    )
    item = work_item(ModelName.anisora, lane)

    async def scenario() -> None:
        worker = LaneWorker(lane, settings)
        stop = asyncio.Event()
        async with observing(kafka_bootstrap, topics) as seen:
            running = asyncio.create_task(worker.run(stop))
            await publish_items(kafka_bootstrap, topics, [item])
            await async_wait_until(lambda: seen.ended([str(item.task_id)]), 60, what="terminal event")
            await async_wait_until(
                lambda: any(e.availability is Availability.unavailable for e in seen.lanes), 10,
                what="an unavailable heartbeat",
            )
            stop.set()
            await running
        failed = seen.terminal(str(item.task_id))[0]
        assert failed.error_code is TaskErrorCode.model_load_failed
        unavailable = next(e for e in seen.lanes if e.availability is Availability.unavailable)
        assert unavailable.warm is False and unavailable.note and "load failed x2" in unavailable.note

    asyncio.run(scenario())
