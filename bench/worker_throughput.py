"""Lane worker throughput vs a bare loop over the same pipeline, in one process run.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/worker_throughput.py --jobs 50 [--device cuda]

Starts a local tansu broker, builds the tiny models, then:
1. bare loop: load phr00t once, N x (pipeline call + mp4 export) back to back;
2. worker: a `phr00t` LaneWorker in this process, N accepted items on `lane.phr00t`, timed from
   the first `processing` event to the last `done`.
Like with like: both call the same `run_pipeline` on the same request shape and the same
`write_mp4` (encode + fsync + rename), with 1 torch thread. On top, the worker pays what a worker
is: Kafka (processing/done/memory events, offset commits, group heartbeats), the memory guard
after every job (gc + malloc_trim + measure) and the thread hand-off. Not counted: the group join
and the once-per-assignment ledger catch-up (both before the first `processing`). Nothing else
consumes while the worker runs (events are read back after it stopped), so no observer polls
the broker and takes the GIL from the job thread during the measured window.
Prints the throughput ratio (target >= 0.95), per-job overhead in ms, and memory (RSS after
cleanup) after the first few jobs vs after N.

`bare_loop` imports nothing of Kafka (the broker, the worker and its harness are imported by the
worker half only), so `bench/gpu_verify.py` reuses it on hosts without the Kafka stack.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from gpu_consumers.artifacts import write_mp4
from gpu_consumers.memory_guard import MemoryGuard
from gpu_consumers.pipelines import RunOptions, load_pipeline, run_pipeline
from gpu_consumers.tiny_models import build_tiny_models
from schemas import LaneMode, MemoryEventType, ModelName, RouteLane, TaskStatus, Topics
from schemas.requests import GenerationRequest
from schemas.settings import load_settings
from tests.factories import tiny_request

SEQ = 32


def bare_loop(
    model_dir: Path, out: Path, jobs: int, device: str = "cpu", request: GenerationRequest | None = None
) -> tuple[float, float]:
    """Seconds for N pipeline calls, and for N pipeline calls + mp4 export (`request`: the job's
    shape, by default a 32x32x9 phr00t job)."""
    request = request or tiny_request(ModelName.phr00t)
    loaded = load_pipeline(request.model, model_dir / request.model.value, device)
    options = RunOptions(max_sequence_length=SEQ)
    run_pipeline(loaded, "warm", request, options)  # first call pays one-off setup
    pipeline_s = export_s = 0.0
    for i in range(jobs):
        t0 = time.perf_counter()
        frames = run_pipeline(loaded, f"bare-{i}", request, options)
        t1 = time.perf_counter()
        write_mp4(frames, out / f"bare-{i}.mp4", request.fps, request.encoding_profile)
        t2 = time.perf_counter()
        pipeline_s += t1 - t0
        export_s += t2 - t1
    return pipeline_s, pipeline_s + export_s


async def worker_run(
    bootstrap: str, topics: Topics, model_dir: Path, out: Path, jobs: int, device: str = "cpu"
) -> tuple[float, list[float]]:
    from gpu_consumers.worker import LaneWorker
    from tests.integration.gpu_consumers.gpu_lane_harness import observing, publish_items, work_item

    settings = load_settings(
        kafka_bootstrap=bootstrap, topic_prefix=topics.prefix, model_dir=model_dir, artifact_dir=out,
        lane_max_sequence_length=SEQ, lane_memory_reserve_gib=0.0, lane_device=device,
    )
    worker = LaneWorker(RouteLane.phr00t, settings)
    stop = asyncio.Event()
    items = [work_item(ModelName.phr00t, RouteLane.phr00t, lane_mode=LaneMode.dedicated) for _ in range(jobs)]
    ids = [str(i.task_id) for i in items]
    # Nothing but the worker consumes while it runs: progress is read off the worker object (a
    # 20 Hz poll), the events are read back only after it stopped. An observer consumer running
    # alongside would poll the broker every 10 ms and take the GIL from the job thread, which
    # the bare loop does not pay either.
    running = asyncio.create_task(worker.run(stop))
    deadline = time.monotonic() + 60
    while not worker.status.view().warm and not running.done() and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    await publish_items(bootstrap, topics, items)
    while worker.terminal_sent < jobs and not running.done():  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    stop.set()
    await running
    async with observing(bootstrap, topics) as seen:
        deadline = time.monotonic() + 30

        def all_read() -> bool:
            cleanups = sum(m.event_type is MemoryEventType.memory_cleanup for m in seen.memory)
            return seen.ended(ids) and cleanups >= jobs

        while not all_read() and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    starts = [e.occurred_at for e in seen.tasks if e.task.status is TaskStatus.processing]
    ends = [e.occurred_at for e in seen.tasks if e.task.status is TaskStatus.done]
    assert len(ends) == jobs, f"only {len(ends)} of {jobs} done"
    rss = [float(m.value) for m in seen.memory  # type: ignore[arg-type]
           if m.event_type is MemoryEventType.memory_cleanup]
    return (max(ends) - min(starts)).total_seconds(), rss


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = parser.parse_args()
    import torch

    from streams.local_stack.broker import LocalBroker, free_port
    from streams.local_stack.topics import create_topics

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        build_tiny_models(tmp / "models")
        (tmp / "bare").mkdir()
        pipeline_s, bare_s = bare_loop(tmp / "models", tmp / "bare", args.jobs, args.device)
        with LocalBroker(port=free_port(), log_path=tmp / "tansu.log") as broker:
            topics = Topics(prefix=f"bench{uuid.uuid4().hex[:6]}.")
            asyncio.run(create_topics(broker.bootstrap, topics))
            worker_s, rss = asyncio.run(
                worker_run(broker.bootstrap, topics, tmp / "models", tmp / "w", args.jobs, args.device)
            )
        guard_rss = MemoryGuard(use_cuda=False).measure().rss_gib
    n = args.jobs
    print(f"jobs: {n} (phr00t tiny, 32x32x9, 4 steps, {args.device}, 1 torch thread)")
    print(f"bare loop, pipeline only:        {pipeline_s:7.3f} s  {n / pipeline_s:7.2f} jobs/s")
    print(f"bare loop, pipeline + mp4:       {bare_s:7.3f} s  {n / bare_s:7.2f} jobs/s")
    print(f"worker (Kafka, events, guard):   {worker_s:7.3f} s  {n / worker_s:7.2f} jobs/s")
    print(f"throughput ratio worker / bare (pipeline + mp4): {bare_s / worker_s:.3f}  (target >= 0.95)")
    from bench.recorded_figures import (
        record,  # bench/recorded_figures.py; imported here: the GPU kit imports this module
    )

    record("lane worker throughput / bare loop (pipeline + mp4)", bare_s / worker_s, "", ">= 0.95")
    print(f"throughput ratio worker / bare (pipeline only):  {pipeline_s / worker_s:.3f}")
    print(f"per-job overhead vs pipeline + mp4: {(worker_s - bare_s) / n * 1000:.1f} ms")
    print(f"per-job overhead vs pipeline only:  {(worker_s - pipeline_s) / n * 1000:.1f} ms")
    first = sum(rss[:3]) / len(rss[:3])
    unit = "allocated" if args.device == "cuda" else "RSS"
    print(f"{unit} after cleanup: first 3 jobs avg {first:.4f} GiB, after job {n}: {rss[-1]:.4f} GiB "
          f"({(rss[-1] / first - 1) * 100:+.2f}%); process now {guard_rss:.4f} GiB")


if __name__ == "__main__":
    main()
