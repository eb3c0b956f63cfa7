"""GPU busy fraction of a lane worker, and model loads on the shared lane, in one process run.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/gpu_busy.py --jobs 50 --shared-jobs 100

Starts a local tansu broker. The pipeline is a stand-in that *sleeps* a fixed time per denoising
step (no CPU, like a GPU kernel the host waits on) and returns frames of the requested shape, so
the encode and write of the mp4 (real: imageio-ffmpeg, fsync, rename) and the worker's Kafka work
are what compete with it, as on a GPU host.

1. Busy fraction: N jobs on `lane.phr00t`; busy = sum of the jobs' `pipeline_seconds` (from their
   `done` events) / wall time from the first `processing` to the last `done`. Printed for the
   worker as it is (the encode of job N overlaps job N+1's pipeline) and with
   FRAMEGATE_LANE_ENCODE_OVERLAP=false (one job end to end at a time: the design before), both
   measured in this run. Target >= 0.97.
2. Shared lane: M jobs alternating anisora/phr00t (declared needs 1 GiB each, no reserve) with a
   budget that fits both (2.5 GiB: target loads == 2) and one that fits one (1.5 GiB: a load on
   every change).

`runner_busy` is the busy fraction of the job runner alone, with the worker's hand-off (one
job's mp4 written on an encode thread while the next job's pipeline runs) and no Kafka: it
imports nothing of Kafka, so `bench/gpu_verify.py` reuses it with a real pipeline on CUDA.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from gpu_consumers.job_runner import Generated, JobReport, JobRunner
from gpu_consumers.pipeline_gaps import PipelineGaps
from gpu_consumers.task_events import TaskContext
from schemas import AdmissionDecision, LaneMode, ModelName, RouteLane, TaskStatus, Topics
from schemas.settings import load_settings


@dataclass(frozen=True)
class BusyRun:
    fraction: float
    wall_s: float
    busy_s: float
    gaps: PipelineGaps


async def busy_run(bootstrap: str, out: Path, jobs: int, step_s: float, overlap: bool) -> BusyRun:
    from gpu_consumers.worker import LaneWorker
    from streams.local_stack.topics import create_topics
    from tests.integration.gpu_consumers.gpu_lane_harness import observing, publish_items, work_item
    from tests.integration.gpu_consumers.stand_in_pipeline import stand_in

    topics = Topics(prefix=f"busy{uuid.uuid4().hex[:6]}.")
    await create_topics(bootstrap, topics)
    settings = load_settings(kafka_bootstrap=bootstrap, topic_prefix=topics.prefix, artifact_dir=out,
                             lane_memory_reserve_gib=0.0, lane_encode_overlap=overlap, lane_device="cpu")
    worker = LaneWorker(RouteLane.phr00t, settings, loader=stand_in(step_s))
    items = [work_item(ModelName.phr00t, RouteLane.phr00t, width=128, height=128, num_frames=17)
             for _ in range(jobs)]
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    while not worker.status.view().warm and not running.done():  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    await publish_items(bootstrap, topics, items, partition=0)
    while worker.terminal_sent < jobs and not running.done():  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    stop.set()
    await running
    async with observing(bootstrap, topics) as seen:
        ids = [str(i.task_id) for i in items]
        deadline = time.monotonic() + 30
        while not seen.ended(ids) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    starts = [e.occurred_at for e in seen.tasks if e.task.status is TaskStatus.processing]
    dones = [e for e in seen.tasks if e.task.status is TaskStatus.done]
    assert len(dones) == jobs, f"{len(dones)} of {jobs} done"
    wall = (max(e.occurred_at for e in dones) - min(starts)).total_seconds()
    busy = sum(e.pipeline_seconds or 0.0 for e in dones)
    return BusyRun(busy / wall, wall, busy, worker.gaps)


def split_line(run: BusyRun) -> str:
    """Mean milliseconds per gap between two pipelines, by stage (the stages that took any)."""
    gaps = max(1, run.gaps.gaps)
    parts = [f"{stage} {1000 * s / gaps:.2f}" for stage, s in run.gaps.seconds.items() if s * 1000 / gaps >= 0.005]
    return (f"{run.gaps.gaps} gaps, {1000 * run.gaps.total() / gaps:.2f} ms each: " + ", ".join(parts)
            + f"; wall - busy {run.wall_s - run.busy_s:.2f} s")


def runner_busy(runner: JobRunner, decisions: list[AdmissionDecision], overlap: bool) -> tuple[BusyRun, list[JobReport]]:
    """Run `decisions` through `runner` as the worker hands them over, without Kafka: the
    pipeline on this thread, the finished job's mp4 (and its cleanup) on an encode thread while
    the next pipeline runs, at most one job encoding at a time; `overlap=False`: one job end to
    end at a time. Busy = seconds inside the pipeline / wall time of the whole run."""
    reports: list[JobReport] = []
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="encode") as encoder:
        encoding: Future[JobReport] | None = None
        for decision in decisions:
            generated = runner.generate(decision, TaskContext(decision, runner.lane, runner.worker_id, 0))
            if encoding is not None:
                reports.append(encoding.result())
                encoding = None
            if isinstance(generated, Generated):
                encoding = encoder.submit(runner.finish, generated)
                if not overlap:
                    reports.append(encoding.result())
                    encoding = None
            else:
                reports.append(generated)
        if encoding is not None:
            reports.append(encoding.result())
    wall = time.perf_counter() - started
    busy = sum(r.pipeline_s for r in reports)
    return BusyRun(busy / wall, wall, busy, runner.gaps), reports


async def shared_run(bootstrap: str, out: Path, jobs: int, budget_gib: float) -> tuple[int, int]:
    from gpu_consumers.worker import LaneWorker
    from streams.local_stack.topics import create_topics
    from tests.integration.gpu_consumers.gpu_lane_harness import publish_items, work_item
    from tests.integration.gpu_consumers.stand_in_pipeline import stand_in

    topics = Topics(prefix=f"shared{uuid.uuid4().hex[:6]}.")
    await create_topics(bootstrap, topics)
    settings = load_settings(
        kafka_bootstrap=bootstrap, topic_prefix=topics.prefix, artifact_dir=out, lane_device="cpu",
        lane_memory_reserve_gib=0.0, lane_need_gib_anisora=1.0, lane_need_gib_phr00t=1.0,
        lane_model_budget_gib=budget_gib,
    )
    worker = LaneWorker(RouteLane.shared, settings, loader=stand_in(0.002, load_s=0.01))
    models = (ModelName.anisora, ModelName.phr00t)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    chunk = 20  # degraded items older than 30 s are dropped: publish as the lane drains
    for start in range(0, jobs, chunk):
        items = [work_item(models[i % 2], RouteLane.shared, lane_mode=LaneMode.degraded_shared)
                 for i in range(start, min(jobs, start + chunk))]
        await publish_items(bootstrap, topics, items, partition=0)
        while worker.terminal_sent < start + len(items) and not running.done():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    stop.set()
    await running
    return worker.models.loads, worker.models.evictions


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--step-s", type=float, default=0.3, help="stand-in seconds per denoising step")
    parser.add_argument("--shared-jobs", type=int, default=100, help="0: skip the shared-lane part")
    args = parser.parse_args()
    from streams.local_stack.broker import LocalBroker, free_port

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with LocalBroker(port=free_port(), log_path=tmp / "tansu.log") as broker:
            load = [os.getloadavg()[0]]
            overlap = asyncio.run(busy_run(broker.bootstrap, tmp / "o", args.jobs, args.step_s, True))
            load.append(os.getloadavg()[0])
            serial = asyncio.run(busy_run(broker.bootstrap, tmp / "s", args.jobs, args.step_s, False))
            load.append(os.getloadavg()[0])
            if args.shared_jobs:
                both = asyncio.run(shared_run(broker.bootstrap, tmp / "b", args.shared_jobs, 2.5))
                one = asyncio.run(shared_run(broker.bootstrap, tmp / "1", args.shared_jobs, 1.5))
    print(f"busy fraction, {args.jobs} jobs, stand-in pipeline {args.step_s * 4:.2f} s (4 steps x {args.step_s} s "
          f"sleep), 128x128x17 mp4 per job; load average {', '.join(f'{x:.1f}' for x in load)} "
          "(before, between, after):")
    print(f"  worker (encode overlaps next pipeline): {overlap.fraction:.3f}  wall {overlap.wall_s:6.2f} s  "
          "(target >= 0.97)")
    print(f"  one job end to end (before):            {serial.fraction:.3f}  wall {serial.wall_s:6.2f} s")
    from bench.recorded_figures import (
        record,  # bench/recorded_figures.py; imported here: the GPU kit imports this module
    )

    record("lane worker busy fraction (encode overlaps next pipeline)", overlap.fraction, "", ">= 0.97")
    print("time between two pipelines (GPU idle), mean ms per gap by stage:")
    print(f"  worker:     {split_line(overlap)}")
    print(f"  end to end: {split_line(serial)}")
    if not args.shared_jobs:
        return
    print(f"shared lane, {args.shared_jobs} jobs alternating anisora/phr00t (needs 1 GiB each):")
    print(f"  budget 2.5 GiB (fits both): loads {both[0]}, evictions {both[1]}  (target loads == 2)")
    print(f"  budget 1.5 GiB (fits one):  loads {one[0]}, evictions {one[1]}")


if __name__ == "__main__":
    main()
