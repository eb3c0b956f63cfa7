"""`VideoExecutionLane` (seed entity) and `LaneEvent`, the lane state and heartbeats on `events.lane`."""

from typing import Self

from pydantic import AwareDatetime, Field, NonNegativeInt, model_validator

from schemas.enums import (
    Availability,
    FallbackReason,
    LaneEventType,
    LaneKey,
    LaneMode,
    ModelName,
    RouteLane,
)
from schemas.envelope import Envelope, WireModel
from schemas.errors import IllegalLaneTransition
from schemas.limits import Identity, NonNegFloat

#: The seed's lane state transitions (`ready -> cold`, `ready|cold -> unavailable`,
#: `unavailable -> ready`); staying put is always allowed. `cold -> ready` is a lane warming up.
AVAILABILITY_TRANSITIONS: dict[Availability, frozenset[Availability]] = {
    Availability.ready: frozenset(
        {Availability.ready, Availability.cold, Availability.unavailable}
    ),
    Availability.cold: frozenset({Availability.cold, Availability.ready, Availability.unavailable}),
    Availability.unavailable: frozenset({Availability.unavailable, Availability.ready}),
}
#: Routing mode moves both ways (fallback activation, capacity restored).
MODE_TRANSITIONS: dict[LaneMode, frozenset[LaneMode]] = {
    LaneMode.dedicated: frozenset({LaneMode.dedicated, LaneMode.degraded_shared}),
    LaneMode.degraded_shared: frozenset({LaneMode.degraded_shared, LaneMode.dedicated}),
}


def mode_reason_problem(mode: LaneMode | None, reason: FallbackReason | None) -> str | None:
    if mode is LaneMode.degraded_shared and reason is None:
        return "fallback_reason is required when mode=degraded_shared"
    if mode is LaneMode.dedicated and reason is not None:
        return "fallback_reason is only set when mode=degraded_shared"
    return None


def _check_mode_reason(mode: LaneMode | None, reason: FallbackReason | None) -> None:
    problem = mode_reason_problem(mode, reason)
    if problem is not None:
        raise ValueError(problem)


def next_availability(current: Availability, new: Availability) -> Availability:
    """`new` if the seed's lane state transitions allow `current -> new`, else `IllegalLaneTransition`."""
    if new not in AVAILABILITY_TRANSITIONS[current]:
        raise IllegalLaneTransition(f"illegal lane transition {current.value} -> {new.value}")
    return new


class VideoExecutionLane(WireModel):
    """A model-dedicated heavy video execution lane (seed entity)."""

    lane_key: LaneKey
    mode: LaneMode
    warm: bool
    availability: Availability
    fallback_reason: FallbackReason | None = None
    updated_at: AwareDatetime
    served_models: tuple[ModelName, ...] = Field(
        default=(),
        description="Models the lane's workers serve; in dedicated mode exactly its own.",
    )

    @model_validator(mode="after")
    def _seed_rules(self) -> Self:
        _check_mode_reason(self.mode, self.fallback_reason)
        if self.mode is LaneMode.dedicated and self.served_models not in (
            (),
            (ModelName(self.lane_key.value),),
        ):
            raise ValueError("in dedicated mode a lane maps to its one heavy model only")
        return self

    def with_availability(self, availability: Availability, at: AwareDatetime) -> Self:
        """The lane after a lane state change; `IllegalLaneTransition` if the seed forbids it."""
        next_availability(self.availability, availability)
        return self.model_copy(update={"availability": availability, "updated_at": at})

    def with_mode(self, mode: LaneMode, reason: FallbackReason | None, at: AwareDatetime) -> Self:
        """The lane after a routing mode change (a new reason for the same mode included);
        `IllegalLaneTransition` if `MODE_TRANSITIONS` or the reason rule forbids it."""
        if mode not in MODE_TRANSITIONS[self.mode]:
            raise IllegalLaneTransition(f"illegal routing mode transition {self.mode.value} -> {mode.value}")
        problem = mode_reason_problem(mode, reason)
        if problem is not None:
            raise IllegalLaneTransition(f"lane {self.lane_key.value}: {problem}")
        served = self.served_models
        if mode is LaneMode.dedicated and served not in ((), (ModelName(self.lane_key.value),)):
            served = ()  # the shared lane's models are no longer this lane's
        return self.model_copy(update={"mode": mode, "fallback_reason": reason, "served_models": served,
                                       "updated_at": at})

    def with_warm(self, warm: bool, at: AwareDatetime) -> Self:
        return self.model_copy(update={"warm": warm, "updated_at": at})


class SharedLane(WireModel):
    """The shared fallback lane's state. Not a seed entity: the seed's lanes are model-dedicated
    (`LaneKey`) and have a routing mode; the shared lane has none, but its availability follows
    the same lane state transitions."""

    warm: bool
    availability: Availability
    updated_at: AwareDatetime

    def with_availability(self, availability: Availability, at: AwareDatetime) -> Self:
        """The lane after a lane state change; `IllegalLaneTransition` if the seed forbids it."""
        next_availability(self.availability, availability)
        return self.model_copy(update={"availability": availability, "updated_at": at})

    def with_warm(self, warm: bool, at: AwareDatetime) -> Self:
        return self.model_copy(update={"warm": warm, "updated_at": at})


class HostPressure(WireModel):
    """Worker host signals feeding the withdrawal policy."""

    load1: NonNegFloat
    cpu_cores: int = Field(ge=1, le=4096)
    artifact_write_ms: NonNegFloat | None = Field(
        default=None, description="Latency of the last artifact write; None before the first."
    )
    gpu_sessions_in_use: NonNegativeInt = 0
    gpu_session_quota: NonNegativeInt = 1
    shared_fallback_enabled: bool = True
    vram_used_gib: NonNegFloat | None = None
    vram_total_gib: NonNegFloat | None = None
    rss_gib: NonNegFloat | None = None


class LaneEvent(Envelope):
    """`lane_state`: an operator or worker changes mode/availability; `heartbeat`: a worker is alive.

    Keyed by lane on `events.lane`. The `shared` lane has no routing mode of its own.
    """

    event_type: LaneEventType
    lane_key: RouteLane
    mode: LaneMode | None = None
    fallback_reason: FallbackReason | None = None
    availability: Availability | None = None
    warm: bool | None = None
    worker_id: Identity | None = None
    served_model: ModelName | None = None
    host: HostPressure | None = None
    gpu_sessions_quota_exhausted: bool | None = None
    note: Identity | None = None

    @model_validator(mode="after")
    def _shape(self) -> Self:
        _check_mode_reason(self.mode, self.fallback_reason)
        if self.lane_key is RouteLane.shared and self.mode is not None:
            raise ValueError("the shared lane has no routing mode")
        if self.event_type is LaneEventType.heartbeat:
            if (
                self.worker_id is None
                or self.availability is None
                or self.warm is None
                or self.host is None
            ):
                raise ValueError("a heartbeat needs worker_id, availability, warm and host")
        elif self.event_type is LaneEventType.lane_state:
            if self.mode is None and self.availability is None:
                raise ValueError("a lane_state event changes mode or availability")
        elif self.worker_id is None or self.served_model is None or self.note is None:
            raise ValueError("a model load/evict event needs worker_id, served_model and note (the reason)")
        return self
