"""A task's current status for `GET /v1/tasks/{id}`, folded from decisions and `events.task`.

The fold is pure (`fold_decision`, `fold_task_event`); `StatusBook` keeps the latest view per
task in a bounded LRU so memory stays flat however long the gateway runs.
"""

from __future__ import annotations

from collections import OrderedDict

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.decisions import AdmissionDecision
from schemas.enums import DecisionOutcome, LaneMode, RouteLane, TaskStatus
from schemas.tasks import TERMINAL, TaskEvent, can_transition


class TaskStatusView(BaseModel):
    """What the gateway knows of a task: admission's decision and the latest status transition."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task_id: str
    status: TaskStatus
    decision: DecisionOutcome | None = None
    model: str | None = None
    lane: RouteLane | None = None
    lane_mode: LaneMode | None = None
    error_code: str | None = Field(default=None, description="Rejection code or task error code.")
    error_msg: str | None = None
    artifact_path: str | None = None
    attempt: int = Field(default=0, ge=0)
    updated_at: AwareDatetime


def fold_decision(
    current: TaskStatusView | None, decision: AdmissionDecision
) -> TaskStatusView | None:
    """Decisions travel on other topics than `events.task`, so they never move a status backwards."""
    if decision.task_id is None or decision.decided_earlier:
        return current  # an answer to one invalid re-send says nothing about the task
    if decision.outcome is DecisionOutcome.accepted:
        if current is None:
            return TaskStatusView(
                task_id=decision.task_id,
                status=TaskStatus.pending,
                decision=decision.outcome,
                model=decision.model.value if decision.model else None,
                lane=decision.lane,
                lane_mode=decision.lane_mode,
                updated_at=decision.occurred_at,
            )
        return current.model_copy(
            update={
                "decision": decision.outcome,
                "lane": current.lane or decision.lane,
                "lane_mode": current.lane_mode or decision.lane_mode,
            }
        )
    if current is not None and current.status in TERMINAL:
        return current.model_copy(update={"decision": current.decision or decision.outcome})
    if current is not None and current.decision is DecisionOutcome.accepted:
        return current  # a replayed rejection cannot undo an acceptance
    return TaskStatusView(
        task_id=decision.task_id,
        status=TaskStatus.failed,
        decision=decision.outcome,
        model=decision.model.value if decision.model else None,
        lane=decision.lane,
        lane_mode=decision.lane_mode,
        error_code=decision.code.value if decision.code else None,
        error_msg=decision.detail or decision.title,
        updated_at=decision.occurred_at,
    )


def fold_task_event(current: TaskStatusView | None, event: TaskEvent) -> TaskStatusView | None:
    """Applies a transition only if the task's state machine allows it (redeliveries are no-ops)."""
    new = event.task.status
    if (
        current is not None
        and current.status is not new
        and not can_transition(current.status, new)
    ):
        return current
    if current is not None and current.status is new and current.attempt > event.attempt:
        return current
    return TaskStatusView(
        task_id=event.task.id,
        status=new,
        decision=current.decision if current else None,
        model=event.task.model,
        lane=event.lane or (current.lane if current else None),
        lane_mode=current.lane_mode if current else None,
        error_code=event.error_code.value if event.error_code else None,
        error_msg=event.task.error_msg,
        artifact_path=event.artifact_path,
        attempt=event.attempt,
        updated_at=event.task.updated_at,
    )


class StatusBook:
    """Latest `TaskStatusView` per task, at most `capacity` tasks (least recently updated go first)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._views: OrderedDict[str, TaskStatusView] = OrderedDict()

    def __len__(self) -> int:
        return len(self._views)

    def get(self, task_id: str) -> TaskStatusView | None:
        return self._views.get(task_id)

    def apply_decision(self, decision: AdmissionDecision) -> None:
        if decision.task_id is not None:
            self._put(decision.task_id, fold_decision(self._views.get(decision.task_id), decision))

    def apply_task_event(self, event: TaskEvent) -> None:
        self._put(event.task_id, fold_task_event(self._views.get(event.task_id), event))

    def _put(self, task_id: str, view: TaskStatusView | None) -> None:
        if view is None:
            return
        self._views[task_id] = view
        self._views.move_to_end(task_id)
        while len(self._views) > self.capacity:
            self._views.popitem(last=False)
