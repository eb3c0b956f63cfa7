"""`MemoryDiagnosticEvent`: memory safety and fallback observability on `events.memory`."""

from typing import Self

from pydantic import AwareDatetime, Field, model_validator

from schemas.enums import FallbackReason, LaneMode, MemoryEventType, ModelName, RouteLane
from schemas.envelope import Envelope
from schemas.limits import Identity, NonNegFloat, TaskId

#: Memory and queue threshold events must carry the measured value.
VALUE_REQUIRED = frozenset(
    {
        MemoryEventType.memory_cleanup,
        MemoryEventType.memory_post_generation,
        MemoryEventType.queue_timeout,
        MemoryEventType.queue_overloaded,
    }
)


class MemoryDiagnosticEvent(Envelope):
    """`value` is GiB for memory events, depth or seconds for queue events (see `value_unit`)."""

    event_type: MemoryEventType
    task_id: TaskId | None = None
    model: ModelName | None = None
    lane_mode: LaneMode
    lane: RouteLane | None = Field(default=None, description="Lane the event concerns (Kafka key).")
    value: NonNegFloat | Identity | None = None
    value_unit: Identity | None = Field(
        default=None, description="e.g. allocated_gib, rss_gib, queue_depth, wait_seconds"
    )
    reason: FallbackReason | None = None
    timestamp: AwareDatetime | None = Field(
        default=None, description="Seed field; equals occurred_at when not given."
    )
    worker_id: Identity | None = None

    @model_validator(mode="after")
    def _seed_rules(self) -> Self:
        if self.event_type is MemoryEventType.fallback_activated and self.reason is None:
            raise ValueError("reason is required for fallback_activated")
        if self.event_type in VALUE_REQUIRED and self.value is None:
            raise ValueError(f"value is required for {self.event_type.value}")
        if self.timestamp is None:
            object.__setattr__(self, "timestamp", self.occurred_at)
        return self
