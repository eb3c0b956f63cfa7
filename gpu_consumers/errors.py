"""Every error the lane worker raises on purpose, under `schemas.errors.FramegateError`.

Job errors map one to one onto a `TaskErrorCode` of the task's `failed` event; the lifecycle
errors (`WorkerStopping`, `JobAbandoned`) never reach a task event: the item stays uncommitted
and is redelivered.
"""

from __future__ import annotations

from schemas.errors import FramegateError


class LaneWorkerError(FramegateError):
    """Base of the gpu_consumers package's errors."""


class InvalidJob(LaneWorkerError, ValueError):
    """The job breaks a rule the pipeline boundary enforces; running it would be wrong."""


class ModelLoadFailed(LaneWorkerError, RuntimeError):
    """A model directory could not be loaded (the cause is chained)."""


class InsufficientMemory(LaneWorkerError, RuntimeError):
    """A load refused before it was attempted: the fit check says the model would not fit."""


class OomExhausted(LaneWorkerError, RuntimeError):
    """A CUDA OOM the policy does not retry (critical, or the one retry also failed)."""


class JobAbandoned(LaneWorkerError):
    """The worker is shutting down past its grace: the job stops at its next step boundary."""


class WorkerStopping(LaneWorkerError):
    """Stop was requested while the worker waited (e.g. for its task ledger): nothing committed."""
