"""Accepted items -> processing -> done with a playable mp4, on the real broker with tiny models."""

from __future__ import annotations

import asyncio
from pathlib import Path

import imageio_ffmpeg
import pytest

from gpu_consumers.lane_lifecycle import group_id
from gpu_consumers.worker import LaneWorker
from schemas import (
    Availability,
    LaneMode,
    MemoryEventType,
    ModelName,
    RouteLane,
    TaskErrorCode,
    TaskStatus,
    Topics,
)
from tests.broker_io import committed
from tests.integration.gpu_consumers.gpu_lane_harness import (
    lane_settings,
    observing,
    publish_items,
    publish_raw,
    work_item,
)
from tests.waiting import async_wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def decode_mp4(path: Path) -> tuple[int, tuple[int, int]]:
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = reader.__next__()
    frames = sum(1 for _ in reader)
    return frames, tuple(meta["size"])


async def committed_offsets(bootstrap: str, topics: Topics, lane: RouteLane) -> int:
    return sum((await committed(bootstrap, group_id(lane), [topics.lane(lane)])).values())


@pytest.mark.parametrize("lane", [RouteLane.anisora, RouteLane.phr00t, RouteLane.shared])
def test_lane_runs_items_to_playable_mp4(
    lane: RouteLane, kafka_bootstrap: str, topics: Topics, tiny_model_dir: Path, tmp_path: Path
) -> None:
    settings = lane_settings(kafka_bootstrap, topics, tiny_model_dir, tmp_path / "artifacts")
    if lane is RouteLane.shared:
        items = [
            work_item(ModelName.anisora, lane, lane_mode=LaneMode.degraded_shared),
            work_item(ModelName.phr00t, lane, lane_mode=LaneMode.degraded_shared, width=48, num_frames=5),
        ]
    else:
        model = ModelName(lane.value)
        items = [work_item(model, lane), work_item(model, lane, width=48, height=16, num_frames=5)]
    ids = [str(item.task_id) for item in items]

    async def scenario() -> None:
        worker = LaneWorker(lane, settings)
        stop = asyncio.Event()
        async with observing(kafka_bootstrap, topics) as seen:
            running = asyncio.create_task(worker.run(stop))
            await publish_items(kafka_bootstrap, topics, items)
            await async_wait_until(lambda: seen.ended(ids) or running.done(), 90, what="terminal events")
            await async_wait_until(
                lambda: any(e.availability is Availability.ready and e.warm for e in seen.lanes), 10,
                what="a ready heartbeat",
            )
            stop.set()
            await running
            assert await committed_offsets(kafka_bootstrap, topics, lane) == len(items)

        for item in items:
            task_id = str(item.task_id)
            assert seen.statuses(task_id) == [TaskStatus.processing, TaskStatus.done]
            done = seen.terminal(task_id)[0]
            assert done.lane is lane and done.worker_id == worker.worker_id
            assert done.duration_seconds and done.duration_seconds > 0
            assert done.artifact_write_ms is not None and done.artifact_write_ms > 0
            assert item.request is not None
            frames, size = decode_mp4(Path(str(done.artifact_path)))
            assert frames == item.request.num_frames
            assert size == (item.request.width, item.request.height)
            memory = [m for m in seen.memory if m.task_id == task_id]
            kinds = {m.event_type for m in memory}
            assert {MemoryEventType.memory_post_generation, MemoryEventType.memory_cleanup} <= kinds
            for event in memory:
                assert isinstance(event.value, float) and event.value > 0
                # The headline: VRAM allocated where the worker runs on CUDA, RSS on a CPU host.
                assert event.value_unit == ("allocated_gib" if worker.device == "cuda" else "rss_gib")
                assert event.lane is lane and event.lane_mode is item.lane_mode
        heartbeat = next(e for e in seen.lanes if e.warm)
        assert heartbeat.lane_key is lane and heartbeat.host is not None
        assert heartbeat.host.cpu_cores >= 1 and heartbeat.host.rss_gib
        assert heartbeat.host.gpu_session_quota == 1

    asyncio.run(scenario())


def test_bad_items_fail_cleanly_and_the_worker_keeps_serving(
    kafka_bootstrap: str, topics: Topics, tiny_model_dir: Path, tmp_path: Path
) -> None:
    lane = RouteLane.phr00t
    settings = lane_settings(kafka_bootstrap, topics, tiny_model_dir, tmp_path / "artifacts")
    wrong_model = work_item(ModelName.anisora, lane)
    good = work_item(ModelName.phr00t, lane)

    async def scenario() -> None:
        worker = LaneWorker(lane, settings)
        stop = asyncio.Event()
        async with observing(kafka_bootstrap, topics) as seen:
            running = asyncio.create_task(worker.run(stop))
            await publish_raw(kafka_bootstrap, topics.lane(lane), b"{not json", b"junk-1")
            await publish_items(kafka_bootstrap, topics, [wrong_model, good])
            ids = ["junk-1", str(wrong_model.task_id), str(good.task_id)]
            await async_wait_until(lambda: seen.ended(ids) or running.done(), 60, what="terminal events")
            stop.set()
            await running
        junk = seen.terminal("junk-1")[0]
        assert junk.error_code is TaskErrorCode.invalid_job and junk.task.error_msg
        wrong = seen.terminal(str(wrong_model.task_id))[0]
        assert wrong.error_code is TaskErrorCode.invalid_job
        assert "does not serve anisora" in str(wrong.task.error_msg)
        assert seen.terminal(str(good.task_id))[0].task.status is TaskStatus.done

    asyncio.run(scenario())
