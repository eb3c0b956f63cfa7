"""`GenerationTask` (seed entity) and `TaskEvent`, its status transitions on `events.task`."""

from typing import Literal, Self

from pydantic import AwareDatetime, Field, NonNegativeInt, model_validator

from schemas.enums import RouteLane, TaskErrorCode, TaskStatus
from schemas.envelope import Envelope, WireModel
from schemas.limits import Identity, NonNegFloat, Reference, ShortText, TaskId
from schemas.task_transitions import TERMINAL, TRANSITIONS, can_transition, may_follow, repeats

__all__ = ["TERMINAL", "TRANSITIONS", "GenerationTask", "TaskEvent", "can_transition", "may_follow", "repeats"]


class GenerationTask(WireModel):
    """The seed's existing async generation job entity."""

    id: TaskId
    model: Identity
    type: Identity
    status: TaskStatus
    error_msg: ShortText | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.status is TaskStatus.failed and not self.error_msg:
            raise ValueError("a failed task needs error_msg")
        if self.status is not TaskStatus.failed and self.error_msg is not None:
            raise ValueError("error_msg is only set on failed tasks")
        if self.updated_at < self.created_at:
            raise ValueError("updated_at is before created_at")
        return self

    def transition(
        self, status: TaskStatus, at: AwareDatetime, error_msg: str | None = None
    ) -> Self:
        if not can_transition(self.status, status):
            raise ValueError(f"illegal transition {self.status.value} -> {status.value}")
        return self.model_copy(update={"status": status, "updated_at": at, "error_msg": error_msg})


class TaskEvent(Envelope):
    """A `GenerationTask` status transition, keyed by task_id on `events.task`."""

    event_type: Literal["task_status"] = "task_status"
    task: GenerationTask
    lane: RouteLane | None = None
    error_code: TaskErrorCode | None = None
    worker_id: Identity | None = None
    attempt: NonNegativeInt = 0
    artifact_path: Reference | None = None
    duration_seconds: NonNegFloat | None = None
    artifact_write_ms: NonNegFloat | None = None
    pipeline_seconds: NonNegFloat | None = Field(
        default=None,
        description="Seconds the job spent inside the model pipeline (GPU busy time); "
        "terminal events of lane workers only.",
    )

    @model_validator(mode="after")
    def _failure_has_code(self) -> Self:
        if self.task.status is TaskStatus.failed and self.error_code is None:
            raise ValueError("a failed task event needs error_code")
        if self.task.status is TaskStatus.done and self.artifact_path is None:
            raise ValueError("a done task event needs artifact_path")
        return self

    @property
    def task_id(self) -> str:
        return self.task.id
