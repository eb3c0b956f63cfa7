"""The GPU verification kit's checks: one function each, over the lane worker's own code.

Each check drives `gpu_consumers` as the worker does (`JobRunner`, `MemoryGuard`, `ModelCache`,
the OOM policy in `oom.py`), without Kafka, so it runs where only torch and the wheels of
`make gpu-wheels` are installed. On CUDA the memory figures are `torch.cuda.memory_allocated` and
NVML's used memory; on CPU, process RSS stands in and the OOM is the settings' fault-injection
seam (`FRAMEGATE_LANE_FAULT_OOM_TASK_PREFIX`): every such row says so in its `measured_as`.

Sizes (`Sizing`): the CUDA run is sized to finish within 8 minutes on one H100 (see
`docs/gpu-verification.md`); `--quick` on CPU runs every code path with tiny models.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench.gpu_busy import runner_busy
from bench.gpu_report import Check, Figure
from bench.worker_throughput import bare_loop
from gpu_consumers.errors import InsufficientMemory
from gpu_consumers.fault_injection import OomFaultInjector
from gpu_consumers.job_runner import JobReport, JobRunner
from gpu_consumers.lane_status import LaneStatus
from gpu_consumers.memory_guard import GIB, MemoryGuard, MemorySnapshot
from gpu_consumers.model_cache import LoadBudget, ModelCache, ModelChange
from gpu_consumers.oom import step_down
from gpu_consumers.pipelines import LoadedPipeline, RunOptions, load_pipeline, run_pipeline
from gpu_consumers.task_events import TaskContext
from gpu_consumers.tiny_models import TransformerSize, build_tiny_models
from schemas import (
    AdmissionDecision,
    DecisionOutcome,
    GenerationRequest,
    LaneMode,
    MemoryDiagnosticEvent,
    MemoryEventType,
    ModelName,
    Priority,
    RouteLane,
    TaskErrorCode,
    TaskStatus,
)
from schemas.envelope import Envelope, utc_now
from schemas.settings import load_settings
from tests.factories import tiny_request

ROOT = Path(__file__).resolve().parents[1]
MIB = float(1 << 20)
A, P = ModelName.anisora, ModelName.phr00t
Shape = tuple[int, int, int]  # width, height, frames
LANE_TESTS = "tests/unit/gpu_consumers"
#: Lane unit tests that need a module beyond the GPU wheels, and which one.
NEEDS_MODULE = {"test_gpu_task_ledger.py": "aiokafka"}  # the task ledger reads Kafka


@dataclass(frozen=True)
class Sizing:
    leak_jobs: int
    leak_shape: Shape
    #: The job sized past the memory left free (real OOM on CUDA; the calibration picks the pin).
    oom_shape: Shape
    #: The shared-lane models' transformer (CUDA: a few GiB of random weights each).
    shared_size: TransformerSize
    shared_jobs: int
    swap_jobs: int
    reserve_gib: float
    throughput_jobs: int
    throughput_shape: Shape
    pytest_timeout_s: int
    #: Where the `gpu`-marked tests are collected, and the lane unit tests to run (quick: the file
    #: holding the `gpu`-marked test, and lane tests that build no model).
    gpu_tests: tuple[str, ...] = (LANE_TESTS,)
    lane_tests: tuple[str, ...] = (LANE_TESTS,)


#: ~30 x 51 M weights in bf16: about 2.6 GiB per model, drawn on the GPU in seconds.
H100_SHARED = TransformerSize(num_layers=30, num_attention_heads=12, attention_head_dim=128, ffn_dim=8960,
                              bf16=True)
CUDA_SIZING = Sizing(
    leak_jobs=200, leak_shape=(128, 128, 17), oom_shape=(480, 480, 33), shared_size=H100_SHARED,
    shared_jobs=100, swap_jobs=6, reserve_gib=1.0, throughput_jobs=30, throughput_shape=(256, 256, 33),
    pytest_timeout_s=300,
)
#: CPU: still a model set of its own, built by the same path (bf16 weights, loaded as float32).
CPU_SHARED = TransformerSize(num_layers=2, num_attention_heads=2, attention_head_dim=16, ffn_dim=64, bf16=True)
CPU_SIZING = Sizing(
    leak_jobs=200, leak_shape=(32, 32, 9), oom_shape=(48, 32, 9), shared_size=CPU_SHARED, shared_jobs=100,
    swap_jobs=6, reserve_gib=0.0, throughput_jobs=20, throughput_shape=(32, 32, 9), pytest_timeout_s=300,
)
QUICK_SIZING = replace(
    CPU_SIZING, leak_jobs=12, shared_jobs=10, swap_jobs=4, throughput_jobs=4, pytest_timeout_s=120,
    gpu_tests=(f"{LANE_TESTS}/test_gpu_job_runner.py",),
    lane_tests=(f"{LANE_TESTS}/test_gpu_memory_guard.py", f"{LANE_TESTS}/test_gpu_model_cache.py"),
)


@dataclass
class Env:
    device: str
    work: Path
    out: Path
    sizing: Sizing
    tiny_dir: Path
    #: One guard per process, as in the worker (NVML is initialised once).
    guard: MemoryGuard
    _big_dir: Path | None = field(default=None, repr=False)

    @property
    def cuda(self) -> bool:
        return self.device == "cuda"

    def shared_models(self) -> Path:
        """The shared-lane models: a few GiB each on CUDA, tiny on CPU (built once, on first use)."""
        if self._big_dir is None:
            self._big_dir = self.work / "big-models"
            build_tiny_models(self._big_dir, seed=1, size=self.sizing.shared_size, device=self.device)
            self.guard.free()
        return self._big_dir


def make_env(device: str, quick: bool, work: Path, out: Path) -> Env:
    import torch

    if device == "cpu":
        torch.set_num_threads(1)  # like the lane worker's default on CPU
    sizing = CUDA_SIZING if device == "cuda" else (QUICK_SIZING if quick else CPU_SIZING)
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.disable_progress_bar()  # hundreds of model loads: keep the table readable
    transformers_logging.disable_progress_bar()
    guard = MemoryGuard(use_cuda=device == "cuda")
    tiny = work / "tiny-models"
    build_tiny_models(tiny)
    guard.freeze_baseline()  # as the worker does once its imports are done
    return Env(device, work, out, sizing, tiny, guard)


# --- the worker's job runner, without Kafka ------------------------------------------------------
def make_runner(
    env: Env,
    models_dir: Path,
    *,
    lane: RouteLane = RouteLane.shared,
    budget: LoadBudget | None = None,
    faults: OomFaultInjector | None = None,
    on_change: Callable[[ModelChange], None] | None = None,
) -> tuple[JobRunner, list[Envelope]]:
    emitted: list[Envelope] = []

    def load(model: ModelName) -> LoadedPipeline:
        return load_pipeline(model, models_dir / model.value, env.device)

    models = ModelCache(env.guard, budget or LoadBudget({}, 0.0), load, LaneStatus(max_load_failures=3), on_change)
    runner = JobRunner(
        lane=lane, worker_id="gpu-verify", models=models, guard=env.guard, artifact_dir=env.work / "artifacts",
        options=RunOptions(max_sequence_length=32), emit=emitted.append, clock=utc_now, faults=faults,
    )
    return runner, emitted


def decision(
    model: ModelName, lane: RouteLane, shape: Shape = (32, 32, 9), *, prefix: str = "gv-",
    priority: Priority = Priority.standard,
) -> AdmissionDecision:
    task_id = f"{prefix}{uuid.uuid4().hex[:12]}"
    width, height, frames = shape
    request = tiny_request(model, task_id=task_id, width=width, height=height, num_frames=frames, priority=priority)
    return AdmissionDecision(
        outcome=DecisionOutcome.accepted, task_id=task_id, model=model, priority=priority, lane=lane,
        lane_mode=LaneMode.degraded_shared if lane is RouteLane.shared else LaneMode.dedicated, request=request,
    )


def run(runner: JobRunner, item: AdmissionDecision) -> JobReport:
    return runner.run(item, TaskContext(item, runner.lane, runner.worker_id, 0))


def done(report: JobReport) -> bool:
    return report.terminal.task.status is TaskStatus.done


def cleanups(emitted: list[Envelope], task_id: str) -> int:
    return sum(1 for e in emitted if isinstance(e, MemoryDiagnosticEvent) and e.task_id == task_id
               and e.event_type is MemoryEventType.memory_cleanup)


def artifact_size(report: JobReport) -> tuple[int, int] | None:
    import imageio_ffmpeg

    if report.terminal.artifact_path is None:
        return None
    reader = imageio_ffmpeg.read_frames(str(report.terminal.artifact_path))
    meta = next(reader)
    reader.close()
    return int(meta["size"][0]), int(meta["size"][1])


def allocated() -> int:
    import torch

    return int(torch.cuda.memory_allocated())


def growth_pct(first: float, last: float) -> float:
    return (last / first - 1.0) * 100.0 if first else 0.0


# --- 1. OOM -------------------------------------------------------------------------------------
def check_oom(env: Env) -> Check:
    """A job past the memory left free: caught by the runner, cleaned up, retried one step lower."""
    if env.cuda:
        return _real_oom(env)
    return _injected_oom(env)


def _oom_verdict(
    crit: JobReport, std: JobReport, std_item: AdmissionDecision, after: JobReport,
    emitted: list[Envelope], figures: dict[str, Figure],
) -> tuple[bool, list[str]]:
    request = std_item.request
    assert request is not None
    stepped = step_down(request)
    expected = (stepped[0].width, stepped[0].height) if stepped else None
    problems = []
    if crit.terminal.error_code is not TaskErrorCode.gpu_oom:
        problems.append(f"critical job: {crit.terminal.task.status.value} {crit.terminal.error_code}")
    if std.oom_retries != 1:
        problems.append(f"standard job retried {std.oom_retries} times, expected 1")
    if done(std) and artifact_size(std) != expected:
        problems.append(f"retried job wrote {artifact_size(std)}, expected {expected}")
    if not done(after):
        problems.append(f"the job after the OOM: {after.terminal.task.status.value}")
    std_id = std_item.task_id or ""
    if cleanups(emitted, std_id) < 2:
        problems.append("no memory_cleanup after the OOM")
    figures.update(
        critical=str(crit.terminal.error_code.value if crit.terminal.error_code else crit.terminal.task.status.value),
        standard=std.terminal.task.status.value, retries=std.oom_retries,
        retried_at=f"{expected[0]}x{expected[1]}" if expected else "none",
        cleanups=cleanups(emitted, std_id), next_job=after.terminal.task.status.value,
    )
    return not problems, problems


def _injected_oom(env: Env) -> Check:
    settings = load_settings(lane_fault_oom_task_prefix="oom-", lane_fault_oom_attempts=1)
    assert settings.lane_fault_oom_task_prefix is not None
    faults = OomFaultInjector(settings.lane_fault_oom_task_prefix, settings.lane_fault_oom_attempts)
    runner, emitted = make_runner(env, env.tiny_dir, faults=faults)
    run(runner, decision(P, RouteLane.shared))
    before = env.guard.measure().rss_gib
    shape = env.sizing.oom_shape
    crit = run(runner, decision(P, RouteLane.shared, shape, prefix="oom-", priority=Priority.critical))
    std_item = decision(P, RouteLane.shared, shape, prefix="oom-")
    std = run(runner, std_item)
    rss_after = env.guard.measure().rss_gib
    after = run(runner, decision(P, RouteLane.shared))
    figures: dict[str, Figure] = {}
    ok, problems = _oom_verdict(crit, std, std_item, after, emitted, figures)
    figures["rss_delta_mib"] = round((rss_after - before) * 1024, 2)
    return Check(
        "oom", "OOM caught, cleaned, retried lower", "pass" if ok else "fail",
        "injected OOM (FRAMEGATE_LANE_FAULT_OOM_TASK_PREFIX seam), not a real CUDA OOM; RSS stands in",
        figures, "; ".join(problems),
    )


def _peak_bytes(env: Env, loaded: LoadedPipeline, request: GenerationRequest) -> int:
    """Peak memory one pipeline call adds over what is allocated before it."""
    import torch

    env.guard.free()
    torch.cuda.reset_peak_memory_stats()
    base = allocated()
    run_pipeline(loaded, "calibrate", request, RunOptions(max_sequence_length=32))
    peak = int(torch.cuda.max_memory_allocated()) - base
    env.guard.free()
    return peak


def _real_oom(env: Env) -> Check:
    import torch

    runner, emitted = make_runner(env, env.tiny_dir)  # no fault injector: only a real OOM trips it
    run(runner, decision(P, RouteLane.shared))
    std_item = decision(P, RouteLane.shared, env.sizing.oom_shape, prefix="oom-")
    assert std_item.request is not None
    stepped = step_down(std_item.request)
    assert stepped is not None
    loaded, _ = runner.models.acquire(P)
    peak_full, peak_low = _peak_bytes(env, loaded, std_item.request), _peak_bytes(env, loaded, stepped[0])
    figures: dict[str, Figure] = {"peak_full_mib": round(peak_full / MIB), "peak_low_mib": round(peak_low / MIB)}
    if peak_full < 1.3 * peak_low:
        return Check("oom", "OOM caught, cleaned, retried lower", "fail", "real CUDA OOM (memory pinned first)",
                     figures, "the job and its step down need about the same memory: cannot size the pin")
    # Pin all but what the stepped-down job needs (with room for the allocator's rounding),
    # which is well short of what the full-size job needs.
    room = int(min(peak_low * 1.6, peak_full * 0.85))
    env.guard.free()
    free, _ = torch.cuda.mem_get_info()
    hog = torch.empty(int(free) - room, dtype=torch.uint8, device="cuda")
    try:
        pre = allocated()
        crit = run(runner, decision(P, RouteLane.shared, env.sizing.oom_shape, prefix="oom-",
                                    priority=Priority.critical))
        after_crit = allocated()
        std = run(runner, std_item)
        after_std = allocated()
    finally:
        del hog
        env.guard.free()
    after = run(runner, decision(P, RouteLane.shared))
    _, problems = _oom_verdict(crit, std, std_item, after, emitted, figures)
    figures.update(pinned_free_mib=round(room / MIB), alloc_delta_critical_b=after_crit - pre,
                   alloc_delta_standard_b=after_std - pre)
    for name, delta in (("critical", after_crit - pre), ("standard", after_std - pre)):
        if abs(delta) > 8 * MIB:
            problems.append(f"memory_allocated after the {name} job is {delta / MIB:+.1f} MiB off its pre-job level")
    notes = list(problems)
    if std.terminal.task.status is TaskStatus.failed:  # retried and survived: the check holds
        notes.append("the retry one step lower ran out of memory too (failed gpu_oom)")
    return Check("oom", "OOM caught, cleaned, retried lower", "pass" if not problems else "fail",
                 "real CUDA OOM (memory pinned first), memory_allocated", figures, "; ".join(notes))


# --- 2. 200 jobs: memory stays flat -------------------------------------------------------------
def check_leak(env: Env) -> Check:
    runner, _ = make_runner(env, env.tiny_dir, lane=RouteLane.phr00t)
    shape = env.sizing.leak_shape
    run(runner, decision(P, RouteLane.phr00t, shape))  # warm-up: one-off caches and workspaces
    snaps: list[MemorySnapshot] = []
    failed = 0
    for _ in range(env.sizing.leak_jobs):
        failed += not done(run(runner, decision(P, RouteLane.phr00t, shape)))
        snaps.append(env.guard.measure())  # after the job's own cleanup (in `finish`)
    first, last = snaps[0], snaps[-1]
    figures: dict[str, Figure] = {"jobs": len(snaps), "shape": "x".join(map(str, shape)), "failed": failed}
    problems = [f"{failed} jobs failed"] if failed else []
    if env.cuda:
        assert first.cuda_allocated_gib is not None and last.cuda_allocated_gib is not None
        assert first.device_used_gib is not None and last.device_used_gib is not None
        series = {
            "allocated": (first.cuda_allocated_gib, last.cuda_allocated_gib),
            "device_used": (first.device_used_gib, last.device_used_gib),
        }
        source = "NVML" if env.guard.has_nvml else "mem_get_info (no NVML)"
        measured_as = f"torch.cuda.memory_allocated and {source} used memory, after each cleanup"
    else:
        series = {"rss": (first.rss_gib, last.rss_gib)}
        measured_as = "process RSS stands in (CPU: no VRAM), after each cleanup"
    for name, (a, b) in series.items():
        pct = growth_pct(a, b)
        figures[f"{name}_first_mib"] = round(a * 1024, 2)
        figures[f"{name}_last_mib"] = round(b * 1024, 2)
        figures[f"{name}_growth_pct"] = round(pct, 3)
        if pct > 1.0:
            problems.append(f"{name} grew {pct:.2f}% from job 1 to job {len(snaps)}")
    return Check("leak", f"{len(snaps)} jobs, memory flat", "fail" if problems else "pass", measured_as, figures,
                 "; ".join(problems))


# --- 3. the shared lane: resident models, evictions, the fit check -----------------------------
def weights_gib(model_dir: Path) -> float:
    return sum(f.stat().st_size for f in model_dir.rglob("*.safetensors")) / GIB


def check_shared_lane(env: Env) -> Check:
    import gc

    built = time.perf_counter()
    models_dir = env.shared_models()
    built_s = time.perf_counter() - built
    # What a model needs to load: its weights, with a little room for what loading adds.
    need = {m: weights_gib(models_dir / m.value) * 1.05 for m in (A, P)}
    reserve = env.sizing.reserve_gib or max(need.values()) / 2
    figures: dict[str, Figure] = {
        "need_anisora_gib": round(need[A], 4), "need_phr00t_gib": round(need[P], 4), "reserve_gib": round(reserve, 4),
        "build_s": round(built_s, 1),
    }
    problems: list[str] = []

    def measure() -> MemorySnapshot:
        env.guard.free()
        return env.guard.measure()

    def headline(snap: MemorySnapshot) -> float:
        return snap.cuda_allocated_gib if snap.cuda_allocated_gib is not None else snap.rss_gib

    base = measure()
    # Fits both: every model loads once for all the alternating jobs.
    both = LoadBudget(need, reserve, need[A] + need[P] + reserve + min(need.values()) / 2)
    runner, _ = make_runner(env, models_dir, budget=both)
    jobs = env.sizing.shared_jobs
    failed = sum(not done(run(runner, decision((A, P)[i % 2], RouteLane.shared))) for i in range(jobs))
    loads, evictions = runner.models.loads, runner.models.evictions
    figures.update(both_jobs=jobs, both_loads=loads, both_evictions=evictions)
    if failed or loads != 2 or evictions:
        problems.append(f"fits both: {loads} loads, {evictions} evictions, {failed} failed jobs in {jobs}")
    del runner
    gc.collect()
    released = measure()
    figures["released_delta_mib"] = round((headline(released) - headline(base)) * 1024, 2)

    # Fits one: each change of model evicts the other, and memory goes back to the baseline.
    base = measure()
    changes: list[ModelChange] = []
    one = LoadBudget(need, reserve, max(need.values()) * 1.5 + reserve)
    runner, _ = make_runner(env, models_dir, budget=one, on_change=changes.append)
    swaps = env.sizing.swap_jobs
    failed = sum(not done(run(runner, decision((A, P)[i % 2], RouteLane.shared))) for i in range(swaps))
    loads, evictions = runner.models.loads, runner.models.evictions
    figures.update(one_jobs=swaps, one_loads=loads, one_evictions=evictions)
    if failed or loads != swaps or evictions != swaps - 1:
        problems.append(f"fits one: {loads} loads, {evictions} evictions, {failed} failed jobs in {swaps}")
    evicted = [c.after for c in changes if c.kind.value == "evicted"]
    worst = max((abs(headline(s) - headline(base)) for s in evicted), default=0.0)
    figures["evicted_vs_base_mib"] = round(worst * 1024, 2)
    if env.cuda:
        used = [s.device_used_gib for s in evicted if s.device_used_gib is not None]
        assert base.device_used_gib is not None
        worst_used = max((abs(u - base.device_used_gib) for u in used), default=0.0)
        figures["evicted_vs_base_device_used_mib"] = round(worst_used * 1024, 1)
        if worst * GIB > 16 * MIB:
            problems.append(f"allocated after an eviction is {worst * 1024:.1f} MiB off the baseline")
        if worst_used > 0.05 * max(need.values()) + 128 * MIB / GIB:
            problems.append(f"device used memory after an eviction is {worst_used * 1024:.0f} MiB off the baseline")
    del runner, changes, evicted
    gc.collect()

    # The fit check refuses what would not fit: by the budget's accounting, and (CUDA) by the
    # memory measured free with the reserve on top, the device pinned so that only the reserve
    # is missing. Nothing loads, nothing is evicted.
    refused = _refusals(env, models_dir, need, reserve, figures)
    problems += refused
    measured_as = ("VRAM: memory_allocated and NVML used; a few GiB of random weights per model"
                   if env.cuda else "tiny models; RSS stands in for VRAM (baseline figures are informational)")
    return Check("shared_lane", "shared lane: resident, evictions, fit check", "fail" if problems else "pass",
                 measured_as, figures, "; ".join(problems))


def _refusals(env: Env, models_dir: Path, need: dict[ModelName, float], reserve: float,
              figures: dict[str, Figure]) -> list[str]:
    problems: list[str] = []
    tight = LoadBudget(need, reserve, need[A] + reserve / 2)
    runner, _ = make_runner(env, models_dir, budget=tight)
    try:
        runner.models.acquire(A)
        problems.append("budget: a load past the budget was not refused")
    except InsufficientMemory as exc:
        figures["refused_by_budget"] = "exceeds the lane's budget" in str(exc)
    if runner.models.loads:
        problems.append("budget: a refused model was loaded")
    if not env.cuda:
        figures["refused_by_free_memory"] = "n/a (CPU: host memory is not pinned)"
        return problems
    import torch

    roomy = LoadBudget(need, reserve, 4 * (need[A] + reserve))
    runner, _ = make_runner(env, models_dir, budget=roomy)
    env.guard.free()
    free, _ = torch.cuda.mem_get_info()
    # Leave the need plus half the reserve free: the load fits, the reserve does not.
    hog = torch.empty(int(free - (need[A] + reserve / 2) * GIB), dtype=torch.uint8, device="cuda")
    before = allocated()
    try:
        runner.models.acquire(A)
        problems.append("free memory: a load without room for the reserve was not refused")
    except InsufficientMemory as exc:
        figures["refused_by_free_memory"] = "free <" in str(exc)
    finally:
        figures["refusal_alloc_delta_b"] = allocated() - before
        del hog
        env.guard.free()
    if runner.models.loads:
        problems.append("free memory: a refused model was loaded")
    runner.models.acquire(A)  # with the pin gone the same load goes through
    figures["loads_after_unpin"] = runner.models.loads
    del runner
    return problems


# --- 4. throughput and busy fraction -----------------------------------------------------------
def check_throughput(env: Env) -> Check:
    models_dir = env.shared_models()
    jobs, shape = env.sizing.throughput_jobs, env.sizing.throughput_shape
    item = decision(P, RouteLane.phr00t, shape)
    assert item.request is not None
    pipeline_s, bare_s = bare_loop(models_dir, env.work / "bare", jobs, env.device, item.request)
    runner, _ = make_runner(env, models_dir, lane=RouteLane.phr00t)
    run(runner, decision(P, RouteLane.phr00t, shape))  # load and warm up, as the worker's warm-up does
    overlap, reports = runner_busy(runner, [decision(P, RouteLane.phr00t, shape) for _ in range(jobs)], True)
    serial, _ = runner_busy(runner, [decision(P, RouteLane.phr00t, shape) for _ in range(jobs)], False)
    failed = sum(not done(r) for r in reports)
    ratio = bare_s / overlap.wall_s
    figures: dict[str, Figure] = {
        "jobs": jobs, "shape": "x".join(map(str, shape)), "bare_pipeline_s": round(pipeline_s, 3),
        "bare_pipeline_mp4_s": round(bare_s, 3), "runner_s": round(overlap.wall_s, 3),
        "runner_vs_bare": round(ratio, 3), "busy": round(overlap.fraction, 3),
        "busy_one_at_a_time": round(serial.fraction, 3), "failed": failed,
        "targets_met": ratio >= 0.95 and overlap.fraction >= 0.97,
    }
    return Check(
        "throughput", "job runner / bare pipeline, busy fraction", "fail" if failed else "info",
        f"job runner without Kafka on {env.device} (targets: ratio >= 0.95, busy >= 0.97)"
        + ("" if env.cuda else "; CPU figures say nothing about a GPU"),
        figures, f"{failed} jobs failed" if failed else "",
    )


# --- 5. the gpu-marked tests and the lane unit tests --------------------------------------------
def missing_modules(names: list[str]) -> list[str]:
    import importlib.util

    return [n for n in names if importlib.util.find_spec(n) is None]


def junit_counts(path: Path) -> dict[str, Any]:
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    counts = {key: sum(int(s.get(key, 0)) for s in suites) for key in ("tests", "failures", "errors", "skipped")}
    bad = [f"{case.get('classname')}.{case.get('name')}" for case in root.iter("testcase")
           if case.find("failure") is not None or case.find("error") is not None]
    return {**counts, "bad": bad}


def check_pytest(env: Env) -> Check:
    ignored = [name for name, module in NEEDS_MODULE.items() if missing_modules([module])]
    ignore = [f"--ignore={LANE_TESTS}/{name}" for name in ignored]
    runs = (("gpu", env.sizing.gpu_tests, "gpu"), ("lane", env.sizing.lane_tests, "not gpu and not soak"))
    figures: dict[str, Figure] = {}
    problems: list[str] = []
    child_env = {**os.environ, "FRAMEGATE_LANE_DEVICE": env.device, "HF_HUB_OFFLINE": "1",
                 "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    for name, paths, marker in runs:
        xml = env.out / f"pytest-{name}.xml"
        cmd = [sys.executable, "-m", "pytest", *paths, *ignore, "-m", marker, "-q", "-p", "no:cacheprovider",
               f"--junitxml={xml}"]
        try:
            proc = subprocess.run(cmd, cwd=ROOT, env=child_env, capture_output=True, text=True,
                                  timeout=env.sizing.pytest_timeout_s, check=False)
        except subprocess.TimeoutExpired:
            problems.append(f"{name}: pytest ran past {env.sizing.pytest_timeout_s} s")
            continue
        (env.out / f"pytest-{name}.log").write_text(proc.stdout[-20000:] + proc.stderr[-5000:])
        if not xml.is_file():
            problems.append(f"{name}: pytest exited {proc.returncode} without a report: {proc.stderr[-300:]}")
            continue
        counts = junit_counts(xml)
        figures.update({f"{name}_{k}": v for k, v in counts.items() if k != "bad"})
        if proc.returncode != 0 or counts["failures"] or counts["errors"]:
            problems.append(f"{name}: exit {proc.returncode}, failing: {', '.join(counts['bad'][:5]) or 'see log'}")
        if name == "gpu" and env.cuda and (counts["skipped"] or not counts["tests"]):
            problems.append("gpu-marked tests skipped on a CUDA host")
    detail = "; ".join(problems)
    if ignored:
        detail = "; ".join(filter(None, [detail, f"not collected (module missing): {', '.join(ignored)}"]))
    measured_as = (f"pytest in a subprocess, FRAMEGATE_LANE_DEVICE={env.device}"
                   + ("" if env.cuda else "; gpu-marked tests skip without CUDA"))
    if env.sizing.lane_tests != (LANE_TESTS,):
        measured_as += "; quick: lane tests that build no model"
    return Check("pytest", "gpu-marked and lane unit tests", "fail" if problems else "pass", measured_as, figures,
                 detail)


CHECKS: tuple[Callable[[Env], Check], ...] = (check_oom, check_leak, check_shared_lane, check_pytest, check_throughput)
