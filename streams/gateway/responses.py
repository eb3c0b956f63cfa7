"""Success bodies of the gateway (its failures are `problems.Problem`)."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from schemas.decisions import AdmissionDecision, Degradation
from schemas.enums import DecisionOutcome, LaneMode, ModelName, Priority, RouteLane
from schemas.requests import GenerationRequest


class TaskAccepted(BaseModel):
    """202: admission accepted the task onto `lane`; follow `status_url` for its progress."""

    model_config = ConfigDict(extra="forbid")

    task_id: str
    status: Literal["pending"] = "pending"
    lane: RouteLane
    lane_mode: LaneMode
    model: ModelName | None = None
    priority: Priority | None = None
    producer: str | None = None
    queue_depth: int | None = Field(default=None, ge=0)
    estimated_wait_seconds: float | None = Field(default=None, ge=0)
    time_to_ready_seconds: float | None = Field(default=None, ge=0)
    degradations: list[Degradation] = Field(default_factory=list)
    replayed: bool = Field(
        default=False, description="True when the task_id had been decided before."
    )
    decision_id: UUID = Field(description="event_id of the AdmissionDecision on tasks.accepted.")
    request: GenerationRequest | None = Field(
        default=None,
        description="The work item as admitted (degradations applied); absent on a replay "
        "(`replayed=true`), whose original decision carried it.",
    )
    status_url: str

    @classmethod
    def from_decision(cls, decision: AdmissionDecision) -> TaskAccepted:
        if (
            decision.task_id is None
            or decision.lane is None
            or decision.lane_mode is None
            or decision.outcome is not DecisionOutcome.accepted
        ):
            raise ValueError("only an accepted decision is a TaskAccepted")
        return cls(
            task_id=decision.task_id,
            lane=decision.lane,
            lane_mode=decision.lane_mode,
            model=decision.model,
            priority=decision.priority,
            producer=decision.request.producer if decision.request is not None else None,
            queue_depth=decision.queue_depth,
            estimated_wait_seconds=decision.estimated_wait_seconds,
            time_to_ready_seconds=decision.time_to_ready_seconds,
            degradations=list(decision.degradations),
            replayed=decision.replayed,
            decision_id=decision.event_id,
            request=decision.request,
            status_url=f"/v1/tasks/{decision.task_id}",
        )


class Health(BaseModel):
    """200 when the gateway can publish and hear decisions, 503 (same body) when it cannot."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["ok", "unavailable"]
    broker: bool = Field(description="The producer is connected.")
    decision_feed: bool = Field(description="The decision consumer is positioned and reading.")
    api_keys: int = Field(ge=0, description="API keys loaded (0: every request gets 401).")
    inflight: int = Field(ge=0, description="Requests waiting for a decision.")
