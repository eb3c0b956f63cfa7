"""One job, start to terminal event, on the calling thread (the worker runs it off the event loop).

Emits memory events through `emit` as they happen and returns the terminal `TaskEvent`; the
caller publishes it and only then commits the work item's offset.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

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
from gpu_consumers.memory_guard import MemoryGuard
from gpu_consumers.model_slot import ModelSlot
from gpu_consumers.oom import is_oom, retry_plan
from gpu_consumers.pipelines import RunOptions, run_pipeline
from gpu_consumers.task_events import TaskContext
from schemas.decisions import AdmissionDecision
from schemas.enums import LaneMode, MemoryEventType, ModelName, Priority, RouteLane, TaskErrorCode
from schemas.envelope import Envelope
from schemas.requests import GenerationRequest
from schemas.tasks import TaskEvent

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


class JobRunner:
    def __init__(
        self,
        *,
        lane: RouteLane,
        worker_id: str,
        slot: ModelSlot,
        guard: MemoryGuard,
        artifact_dir: Path,
        options: RunOptions,
        emit: Callable[[Envelope], None],
        clock: Callable[[], datetime],
        faults: OomFaultInjector | None = None,
    ) -> None:
        self.lane = lane
        self.worker_id = worker_id
        self.slot = slot
        self.guard = guard
        self.artifact_dir = artifact_dir
        self.options = options
        self.emit = emit
        self.clock = clock
        self.faults = faults
        #: Set by the worker when shutdown outlasts its grace: the job stops at its next step.
        self.abandon = threading.Event()

    def run(self, decision: AdmissionDecision, ctx: TaskContext) -> JobReport:
        started = time.perf_counter()
        request = decision.request
        assert request is not None
        lane_mode = decision.lane_mode or LaneMode.dedicated

        def fail(code: TaskErrorCode, msg: str) -> JobReport:
            log.warning("task %s failed: %s: %s", ctx.task_id, code.value, msg)
            return JobReport(
                task_events.failed(ctx, self.clock(), code, msg, time.perf_counter() - started)
            )

        if request.model not in served_models(self.lane):
            return fail(TaskErrorCode.invalid_job, f"lane {self.lane.value} does not serve {request.model.value}")
        report: JobReport
        try:
            report = self._generate(ctx, request, lane_mode, started)
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

    def _generate(
        self, ctx: TaskContext, request: GenerationRequest, lane_mode: LaneMode, started: float
    ) -> JobReport:
        swap = self.slot.make_room(request.model)
        if swap is not None:
            # A swap is a cleanup of its own: report what the unloaded model left behind.
            self.emit(
                memory_event(
                    MemoryEventType.memory_cleanup, swap.after, lane=self.lane, lane_mode=lane_mode,
                    worker_id=self.worker_id, now=self.clock(), model=swap.unloaded, task_id=ctx.task_id,
                )
            )
        loaded = self.slot.acquire(request.model)
        retries = 0
        current = request
        while True:
            try:
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
                            change.parameter, change.requested, change.granted)
        # Memory right after generation, before cleanup: the job's own footprint.
        self._emit_memory(MemoryEventType.memory_post_generation, ctx.task_id, request.model, lane_mode)
        written = write_mp4(
            frames, artifact_path(self.artifact_dir, self.lane.value, ctx.task_id), current.fps,
            current.encoding_profile,
        )
        del frames
        done_ctx = TaskContext(ctx.decision, ctx.lane, ctx.worker_id, ctx.attempt + retries)
        event = task_events.done(
            done_ctx, self.clock(), str(written.path), time.perf_counter() - started, round(written.write_ms, 3)
        )
        return JobReport(event, written, retries)

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
