"""One job in two stages: `generate` (the GPU part: model, pipeline, OOM retry) and `finish`
(the CPU part: mp4 encode and write, the terminal event, the post-job cleanup).

The worker runs `generate` on its job thread and `finish` on an encode thread, so the next job's
pipeline runs while this one is encoded; `run` chains both on the calling thread. Memory events
go out through `emit` as they happen; the caller publishes the terminal event and only then
commits the work item's offset.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from gpu_consumers import task_events
from gpu_consumers.artifacts import WrittenArtifact, artifact_path, write_mp4
from gpu_consumers.errors import (
    InsufficientMemory,
    InvalidJob,
    JobAbandoned,
    ModelLoadFailed,
    OomExhausted,
)
from gpu_consumers.fault_injection import OomFaultInjector
from gpu_consumers.memory_events import memory_event
from gpu_consumers.memory_guard import MemoryGuard, MemorySnapshot
from gpu_consumers.model_cache import ModelCache
from gpu_consumers.oom import is_oom, retry_plan
from gpu_consumers.pipeline_gaps import PipelineGaps
from gpu_consumers.pipelines import RunOptions, run_pipeline
from gpu_consumers.task_events import TaskContext
from schemas.decisions import AdmissionDecision
from schemas.enums import LaneMode, MemoryEventType, ModelName, Priority, RouteLane, TaskErrorCode
from schemas.envelope import Envelope
from schemas.requests import GenerationRequest
from schemas.tasks import TaskEvent

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)


def served_models(lane: RouteLane) -> tuple[ModelName, ...]:
    """A dedicated lane serves its one model; the shared lane serves every model."""
    if lane is RouteLane.shared:
        return tuple(ModelName)
    return (ModelName(lane.value),)


@dataclass
class JobReport:
    """What the worker learns from a job besides its terminal event (metrics, heartbeats)."""

    terminal: TaskEvent
    artifact: WrittenArtifact | None = None
    oom_retries: int = 0
    #: Seconds inside the pipeline (the GPU's busy time), retries included.
    pipeline_s: float = 0.0


@dataclass
class Generated:
    """A job whose pipeline is done: its frames wait for `finish`."""

    ctx: TaskContext
    request: GenerationRequest  # as it ran (one step lower after an OOM retry)
    lane_mode: LaneMode
    frames: np.ndarray
    started: float
    pipeline_s: float
    oom_retries: int
    #: Memory right after generation (the job's own footprint), reported by `finish`.
    post_generation: MemorySnapshot
    measured_at: datetime


class JobRunner:
    def __init__(
        self,
        *,
        lane: RouteLane,
        worker_id: str,
        models: ModelCache,
        guard: MemoryGuard,
        artifact_dir: Path,
        options: RunOptions,
        emit: Callable[[Envelope], None],
        clock: Callable[[], datetime],
        faults: OomFaultInjector | None = None,
        gaps: PipelineGaps | None = None,
    ) -> None:
        self.lane = lane
        self.worker_id = worker_id
        self.models = models
        self.guard = guard
        self.artifact_dir = artifact_dir
        self.options = options
        self.emit = emit
        self.clock = clock
        self.faults = faults
        self.gaps = gaps or PipelineGaps()
        #: Set by the worker when shutdown outlasts its grace: the job stops at its next step.
        self.abandon = threading.Event()

    def run(self, decision: AdmissionDecision, ctx: TaskContext) -> JobReport:
        """Both stages on the calling thread."""
        generated = self.generate(decision, ctx)
        return self.finish(generated) if isinstance(generated, Generated) else generated

    def generate(
        self, decision: AdmissionDecision, ctx: TaskContext, on_start: Callable[[], None] | None = None
    ) -> Generated | JobReport:
        """The pipeline's frames, or the failed job's report (cleaned up already). `on_start` is
        called as the pipeline starts (again on an OOM retry)."""
        self.gaps.mark("dispatch")
        started = time.perf_counter()
        request = decision.request
        assert request is not None
        lane_mode = decision.lane_mode or LaneMode.dedicated
        timing = _PipelineClock(self.gaps, on_start)

        def fail(code: TaskErrorCode, msg: str) -> JobReport:
            log.warning("task %s failed: %s: %s", ctx.task_id, code.value, msg)
            event = task_events.failed(ctx, self.clock(), code, msg, time.perf_counter() - started,
                                       pipeline_seconds=round(timing.seconds, 6))
            return JobReport(event, pipeline_s=timing.seconds)

        if request.model not in served_models(self.lane):
            return fail(TaskErrorCode.invalid_job, f"lane {self.lane.value} does not serve {request.model.value}")
        report: JobReport
        try:
            return self._generate(ctx, request, lane_mode, started, timing)
        except JobAbandoned:
            raise  # no terminal event: the item stays uncommitted and is redelivered
        except InvalidJob as exc:
            report = fail(TaskErrorCode.invalid_job, str(exc))
        except InsufficientMemory as exc:
            report = fail(TaskErrorCode.insufficient_memory, str(exc))
        except ModelLoadFailed as exc:
            report = fail(TaskErrorCode.model_load_failed, str(exc))
        except OomExhausted as exc:
            report = fail(TaskErrorCode.gpu_oom, str(exc))
        except Exception as exc:  # the worker outlives any one job
            log.exception("task %s: pipeline error", ctx.task_id)
            report = fail(TaskErrorCode.pipeline_error, f"{type(exc).__name__}: {exc}")
        self._after_job(ctx.task_id, request.model, lane_mode)
        return report

    def finish(self, job: Generated) -> JobReport:
        """Encode and write the mp4 and build the terminal event; a failed write fails this task only."""
        self.emit(
            memory_event(
                MemoryEventType.memory_post_generation, job.post_generation, lane=self.lane,
                lane_mode=job.lane_mode, worker_id=self.worker_id, now=job.measured_at,
                model=job.request.model, task_id=job.ctx.task_id,
            )
        )
        try:
            written = write_mp4(
                job.frames, artifact_path(self.artifact_dir, self.lane.value, job.ctx.task_id), job.request.fps,
                job.request.encoding_profile,
            )
        except Exception as exc:
            log.exception("task %s: artifact write failed", job.ctx.task_id)
            event = task_events.failed(
                job.ctx, self.clock(), TaskErrorCode.pipeline_error,
                f"artifact write failed: {type(exc).__name__}: {exc}", time.perf_counter() - job.started,
                pipeline_seconds=round(job.pipeline_s, 6),
            )
            report = JobReport(event, oom_retries=job.oom_retries, pipeline_s=job.pipeline_s)
        else:
            event = task_events.done(
                job.ctx, self.clock(), str(written.path), time.perf_counter() - job.started,
                round(written.write_ms, 3), pipeline_seconds=round(job.pipeline_s, 6),
            )
            report = JobReport(event, written, job.oom_retries, job.pipeline_s)
        job.frames = None  # type: ignore[assignment]  # the frames go before the cleanup measures
        self._after_job(job.ctx.task_id, job.request.model, job.lane_mode)
        return report

    def _generate(
        self, ctx: TaskContext, request: GenerationRequest, lane_mode: LaneMode, started: float,
        timing: _PipelineClock,
    ) -> Generated:
        loaded, evictions = self.models.acquire(request.model)
        self.gaps.mark("acquire")
        for eviction in evictions:
            # An eviction is a cleanup of its own: report what the unloaded model left behind.
            self.emit(
                memory_event(
                    MemoryEventType.memory_cleanup, eviction.after, lane=self.lane, lane_mode=lane_mode,
                    worker_id=self.worker_id, now=self.clock(), model=eviction.model, task_id=ctx.task_id,
                )
            )
        retries = 0
        current = request
        while True:
            try:
                with timing:
                    frames = run_pipeline(loaded, ctx.task_id, current, self.options, self.faults, self.abandon)
                break
            except Exception as exc:
                if not is_oom(exc):
                    raise
                del exc  # the traceback pins the frames' tensors: drop it before cleaning up
                self.guard.free()
                self._emit_memory(MemoryEventType.memory_cleanup, ctx.task_id, request.model, lane_mode)
                plan = retry_plan(current, retries)
                if plan is None:
                    why = "critical priority is never degraded" if current.priority is Priority.critical else (
                        "already retried once" if retries else "no elastic step left"
                    )
                    raise OomExhausted(
                        f"CUDA out of memory at {current.width}x{current.height}x{current.num_frames}; "
                        f"not retried: {why}"
                    ) from None
                current, change = plan
                retries += 1
                log.warning("task %s: OOM, retrying once with %s %s -> %s", ctx.task_id,
                            change.parameter.value, change.requested, change.granted)
        # Memory right after generation, before cleanup: the job's own footprint. Measured here,
        # reported by `finish`, so the next job's pipeline need not wait for the event.
        generated = Generated(
            replace(ctx, attempt=ctx.attempt + retries), current, lane_mode, frames, started, timing.seconds, retries,
            self.guard.measure(), self.clock(),
        )
        self.gaps.mark("post_generation")
        return generated

    def _after_job(self, task_id: str, model: ModelName, lane_mode: LaneMode) -> None:
        try:
            self.guard.free()
            self._emit_memory(MemoryEventType.memory_cleanup, task_id, model, lane_mode)
        except Exception:  # telemetry must never turn a finished job into a crash
            log.exception("post-job memory cleanup failed")

    def _emit_memory(self, kind: MemoryEventType, task_id: str | None, model: ModelName, mode: LaneMode) -> None:
        self.emit(
            memory_event(
                kind, self.guard.measure(), lane=self.lane, lane_mode=mode, worker_id=self.worker_id,
                now=self.clock(), model=model, task_id=task_id,
            )
        )


class _PipelineClock:
    """Sums the seconds spent inside the pipeline (`with clock:` around each call)."""

    def __init__(self, gaps: PipelineGaps, on_start: Callable[[], None] | None) -> None:
        self.seconds = 0.0
        self._entered = 0.0
        self._gaps = gaps
        self._on_start = on_start

    def __enter__(self) -> None:
        self._gaps.pipeline_started()
        if self._on_start is not None:
            self._on_start()
        self._entered = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.seconds += time.perf_counter() - self._entered
        self._gaps.pipeline_ended()
