"""A job from item to terminal event, without a broker: real tiny pipelines, OOMs injected at
the pipeline boundary (the settings-driven fault injector), and a real CUDA OOM where CUDA exists.

The pipelines run on the lane's device as the worker resolves it (`FRAMEGATE_LANE_DEVICE`, by
default CUDA where there is one), so the same tests exercise both hosts."""

from __future__ import annotations

from pathlib import Path

import imageio_ffmpeg
import pytest

from gpu_consumers.errors import InvalidJob
from gpu_consumers.fault_injection import OomFaultInjector
from gpu_consumers.job_runner import JobRunner
from gpu_consumers.lane_status import LaneStatus
from gpu_consumers.memory_guard import MemoryGuard
from gpu_consumers.model_cache import LoadBudget, ModelCache
from gpu_consumers.pipelines import RunOptions, load_pipeline, resolve_device
from gpu_consumers.task_events import TaskContext
from schemas import (
    AdmissionDecision,
    GenerationRequest,
    LaneMode,
    MemoryDiagnosticEvent,
    MemoryEventType,
    ModelName,
    Priority,
    RouteLane,
    TaskErrorCode,
    TaskStatus,
    TaskType,
)
from schemas.envelope import Envelope, utc_now
from schemas.settings import load_settings
from tests.factories import accepted, tiny_request


def lane_device() -> str:
    return resolve_device(load_settings().lane_device)


def item(task_id: str, model: ModelName = ModelName.phr00t, **fields: object) -> AdmissionDecision:
    request = tiny_request(model, task_id=task_id, prompt="a kite", seed=3, **fields)
    return accepted(request, lane=RouteLane.shared, lane_mode=LaneMode.degraded_shared)


def make_runner(
    model_dir: Path, tmp: Path, device: str | None = None, faults: OomFaultInjector | None = None
) -> tuple[JobRunner, list[Envelope], LaneStatus]:
    import torch

    torch.set_num_threads(1)
    device = device or lane_device()
    emitted: list[Envelope] = []
    guard = MemoryGuard(use_cuda=device == "cuda")
    status = LaneStatus(max_load_failures=3)
    models = ModelCache(
        guard, LoadBudget({}, 0.0), lambda m: load_pipeline(m, model_dir / m.value, device), status
    )
    runner = JobRunner(
        lane=RouteLane.shared, worker_id="unit", models=models, guard=guard, artifact_dir=tmp,
        options=RunOptions(max_sequence_length=32), emit=emitted.append, clock=utc_now, faults=faults,
    )
    return runner, emitted, status


def run(runner: JobRunner, decision: AdmissionDecision):  # type: ignore[no-untyped-def]
    return runner.run(decision, TaskContext(decision, RouteLane.shared, "unit", 0))


def test_oom_twice_fails_with_gpu_oom_and_the_runner_keeps_serving(tiny_models: Path, tmp_path: Path) -> None:
    runner, emitted, _ = make_runner(tiny_models, tmp_path, faults=OomFaultInjector("oom-", attempts=2))
    report = run(runner, item("oom-twice"))
    assert report.terminal.error_code is TaskErrorCode.gpu_oom
    assert "already retried once" in str(report.terminal.task.error_msg)
    cleanups = [e for e in emitted if isinstance(e, MemoryDiagnosticEvent)
                and e.event_type is MemoryEventType.memory_cleanup and e.task_id == "oom-twice"]
    assert len(cleanups) == 3  # after each OOM, and after the job

    after = run(runner, item("fine-after"))
    assert after.terminal.task.status is TaskStatus.done


def test_oom_once_retries_one_step_lower(tiny_models: Path, tmp_path: Path) -> None:
    runner, _, _ = make_runner(tiny_models, tmp_path, faults=OomFaultInjector("oom-", attempts=1))
    report = run(runner, item("oom-once", ModelName.anisora, width=48, height=32))
    assert report.terminal.task.status is TaskStatus.done and report.oom_retries == 1
    reader = imageio_ffmpeg.read_frames(str(report.terminal.artifact_path))
    meta = next(reader)
    assert tuple(meta["size"]) == (32, 16)  # 48x32 -> x2/3 on each side, multiples of 16
    assert sum(1 for _ in reader) == 9


def test_critical_is_never_degraded(tiny_models: Path, tmp_path: Path) -> None:
    runner, _, _ = make_runner(tiny_models, tmp_path, faults=OomFaultInjector("oom-", attempts=1))
    report = run(runner, item("oom-critical", priority=Priority.critical))
    assert report.terminal.error_code is TaskErrorCode.gpu_oom
    assert "critical priority is never degraded" in str(report.terminal.task.error_msg)


def test_pipeline_boundary_refuses_unrounded_frames(tiny_models: Path, tmp_path: Path) -> None:
    from gpu_consumers.pipelines import run_pipeline

    loaded = load_pipeline(ModelName.phr00t, tiny_models / "phr00t", lane_device())
    good = item("x").request
    assert good is not None
    bad = GenerationRequest.model_construct(**{**good.model_dump(), "num_frames": 8})
    with pytest.raises(InvalidJob, match="num_frames=8"):
        run_pipeline(loaded, "x", bad, RunOptions(max_sequence_length=32))
    runner, _, _ = make_runner(tiny_models, tmp_path)
    decision = item("bad-frames").model_copy(update={"request": bad})
    report = run(runner, decision)
    assert report.terminal.error_code is TaskErrorCode.invalid_job


def test_missing_input_image_is_an_invalid_job(tiny_models: Path, tmp_path: Path) -> None:
    runner, _, _ = make_runner(tiny_models, tmp_path)
    decision = item("no-image", type=TaskType.image_to_video, input_image=str(tmp_path / "missing.png"))
    report = run(runner, decision)
    assert report.terminal.error_code is TaskErrorCode.invalid_job
    assert "not a readable image" in str(report.terminal.task.error_msg)


def test_input_image_conditions_anisora(tiny_models: Path, tmp_path: Path) -> None:
    from PIL import Image

    path = tmp_path / "frame.png"
    Image.new("RGB", (64, 48), (200, 30, 30)).save(path)
    runner, _, _ = make_runner(tiny_models, tmp_path)
    report = run(runner, item("with-image", ModelName.anisora, type=TaskType.image_to_video,
                              input_image=f"file://{path}"))
    assert report.terminal.task.status is TaskStatus.done


@pytest.mark.gpu
def test_real_cuda_oom_is_caught_cleaned_and_survived(tiny_models: Path, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    runner, emitted, _ = make_runner(tiny_models, tmp_path, device="cuda")
    warm = run(runner, item("warm-up"))
    assert warm.terminal.task.status is TaskStatus.done
    # Fill the device so the next job's activations cannot fit: a genuine allocator OOM.
    free, _ = torch.cuda.mem_get_info()
    hog = torch.empty(int(free - (8 << 20)), dtype=torch.uint8, device="cuda")
    try:
        crit = run(runner, item("real-oom-critical", priority=Priority.critical, width=256, height=256))
        std = run(runner, item("real-oom-standard", width=256, height=256))
    finally:
        del hog
        torch.cuda.empty_cache()
    print("critical:", crit.terminal.error_code, crit.terminal.task.error_msg)
    print("standard:", std.terminal.task.status, std.terminal.error_code, std.oom_retries)
    assert crit.terminal.error_code is TaskErrorCode.gpu_oom
    assert std.terminal.task.status in (TaskStatus.done, TaskStatus.failed)
    if std.terminal.task.status is TaskStatus.failed:
        assert std.terminal.error_code is TaskErrorCode.gpu_oom
    after = run(runner, item("after-oom"))
    assert after.terminal.task.status is TaskStatus.done
    cleanup = [e for e in emitted if isinstance(e, MemoryDiagnosticEvent) and e.task_id == "after-oom"
               and e.event_type is MemoryEventType.memory_cleanup]
    assert cleanup and cleanup[-1].value_unit == "allocated_gib"


def test_a_failed_artifact_write_fails_its_own_task_only(tmp_path: Path) -> None:
    import numpy as np

    from gpu_consumers.job_runner import Generated

    runner, emitted, _ = make_runner(tmp_path / "no-models", tmp_path)
    frames = np.zeros((9, 32, 32, 3), dtype=np.uint8)

    def generated(task_id: str) -> Generated:
        decision = item(task_id)
        assert decision.request is not None
        ctx = TaskContext(decision, RouteLane.shared, "unit", 0)
        return Generated(ctx, decision.request, LaneMode.degraded_shared, frames, 0.0, 1.25, 0,
                         runner.guard.measure(), utc_now())

    (tmp_path / "shared").write_text("a file where the lane's artifact directory should be")
    broken = runner.finish(generated("write-fails"))
    assert broken.terminal.error_code is TaskErrorCode.pipeline_error
    assert "artifact write failed" in str(broken.terminal.task.error_msg)
    assert broken.terminal.pipeline_seconds == 1.25
    (tmp_path / "shared").unlink()
    fine = runner.finish(generated("write-works"))
    assert fine.terminal.task.status is TaskStatus.done and fine.terminal.pipeline_seconds == 1.25
    assert fine.artifact is not None and fine.artifact.path.is_file()
    cleanups = [e.task_id for e in emitted if isinstance(e, MemoryDiagnosticEvent)
                and e.event_type is MemoryEventType.memory_cleanup]
    assert cleanups == ["write-fails", "write-works"]  # the post-job cleanup runs either way
    post = [e.task_id for e in emitted if isinstance(e, MemoryDiagnosticEvent)
            and e.event_type is MemoryEventType.memory_post_generation]
    assert post == ["write-fails", "write-works"]  # reported per job, written or not
