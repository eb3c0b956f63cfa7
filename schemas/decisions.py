"""`AdmissionDecision`: accepted (with lane and degradations) or rejected (a problem document)."""

from typing import Literal, Self
from uuid import UUID

from pydantic import Field, NonNegativeInt, model_validator

from schemas.enums import DecisionOutcome, LaneMode, ModelName, Priority, RejectionCode, RouteLane
from schemas.envelope import Envelope, WireModel
from schemas.limits import Identity, NonNegFloat, ShortText, TaskId
from schemas.requests import GenerationRequest


class FieldError(WireModel):
    """One field-level problem, pointing at the offending location in the request."""

    loc: list[str | int] = Field(max_length=16)
    msg: ShortText
    type: ShortText


class SourceRecord(WireModel):
    """Where an unparseable record came from, so it can be found again."""

    topic: Identity
    partition: NonNegativeInt
    offset: NonNegativeInt


class Degradation(WireModel):
    """One elastic step-down applied at admission, e.g. resolution 1280x720 -> 832x480."""

    parameter: Literal["resolution", "fps", "encoding_profile", "time_to_ready"]
    requested: ShortText
    granted: ShortText


class AdmissionDecision(Envelope):
    """Written to `tasks.accepted` (and `lane.<lane>`) or `tasks.rejected`.

    Rejections carry the problem fields (`status`, `code`, `title`, `detail`, ...). `request` is
    the work item as admitted: for accepted decisions it already has degradations applied.
    """

    event_type: Literal["admission_decision"] = "admission_decision"
    outcome: DecisionOutcome
    task_id: TaskId | None
    model: ModelName | None = None
    priority: Priority | None = None
    lane: RouteLane | None = None
    lane_mode: LaneMode | None = None
    queue_depth: NonNegativeInt | None = None
    estimated_wait_seconds: NonNegFloat | None = None
    time_to_ready_seconds: NonNegFloat | None = None
    degradations: list[Degradation] = Field(default_factory=list, max_length=8)
    request: GenerationRequest | None = None
    # problem document (RFC 9457 fields), rejections only
    status: Literal[403, 422, 503] | None = None
    code: RejectionCode | None = None
    title: ShortText | None = None
    detail: ShortText | None = None
    retry_after_seconds: NonNegativeInt | None = None
    reason: Literal["depth", "wait", "preempted", "stale_signal", "missing_signal"] | None = None
    errors: list[FieldError] = Field(default_factory=list, max_length=64)
    source: SourceRecord | None = None
    replayed: bool = Field(
        default=False,
        description="True when re-sent for a task already decided: the task's own decision again "
        "(`replay_of` is its event_id), without the admitted `request`.",
    )
    replay_of: UUID | None = Field(
        default=None, description="On a replay: event_id of the task's own decision."
    )
    decided_earlier: bool = Field(
        default=False,
        description="True on a rejection of a record whose task_id was already decided (e.g. an "
        "invalid re-send): it answers that record only; the task's own decision, status and "
        "queue place are unchanged.",
    )
    events_task_upto: NonNegativeInt | None = Field(
        default=None,
        description="The admission state this decision was made on had folded every `events.task` "
        "record below this offset and none at or above it (`framegate simulate` replays worker events "
        "by it). None where the decision read no worker state (replays, unparseable records) and on "
        "records written before it existed.",
    )
    events_lane_upto: NonNegativeInt | None = Field(
        default=None,
        description="As `events_task_upto`, for `events.lane` (heartbeats and lane states).",
    )

    @model_validator(mode="after")
    def _outcome_shape(self) -> Self:
        if self.outcome is DecisionOutcome.accepted:
            if (
                self.task_id is None
                or self.lane is None
                or self.lane_mode is None
                or (self.request is None and not self.replayed)
            ):
                raise ValueError(
                    "an accepted decision needs task_id, lane, lane_mode and (unless replayed) request"
                )
            if self.code is not None or self.status is not None:
                raise ValueError("an accepted decision carries no problem code/status")
        else:
            if self.code is None or self.status is None or not self.title:
                raise ValueError("a rejected decision needs status, code and title")
            if self.status != self.code.status:
                raise ValueError(f"code {self.code.value} implies status {self.code.status}")
            if (
                self.code is RejectionCode.malformed_request
                and self.task_id is None
                and self.source is None
            ):
                raise ValueError(
                    "an unparseable record must carry its source topic/partition/offset"
                )
        return self
