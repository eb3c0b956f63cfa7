"""`framegate lane degrade|restore`: operators change a lane's routing mode via `events.lane`.

The current mode is folded from the log first, so the seed's transitions are checked before
anything is published: only `anisora`/`phr00t` have a mode, and a degrade names its reason.
Restoring a dedicated lane or re-degrading a degraded one publishes nothing.
"""

from __future__ import annotations

__all__ = ["LaneCommandError", "LaneCommandResult", "lane_command", "run_lane_command"]

from dataclasses import dataclass

from aiokafka import AIOKafkaProducer

from schemas import FallbackReason, LaneEvent, LaneEventType, LaneKey, LaneMode, RouteLane
from schemas.settings import Settings
from streams.admission.errors import LaneCommandError
from streams.admission.rebuild import rebuild
from streams.admission.state import AdmissionState


@dataclass(frozen=True)
class LaneCommandResult:
    published: LaneEvent | None
    message: str


def lane_command(state: AdmissionState, lane: str, mode: LaneMode, reason: FallbackReason | None,
                 note: str | None = None) -> LaneCommandResult:
    """Pure: the LaneEvent to publish for an operator command, given the folded lane state."""
    if lane not in LaneKey.__members__:
        raise LaneCommandError(f"lane {lane!r} has no routing mode (only {', '.join(LaneKey)})")
    if mode is LaneMode.degraded_shared and reason is None:
        raise LaneCommandError("degrading a lane needs --reason capacity|quota|manual")
    current = state.lane(RouteLane(lane))
    assert current.mode is not None  # a model lane (checked above) always has a routing mode
    if current.mode is mode:
        return LaneCommandResult(None, f"lane {lane} is already {mode.value}; nothing published")
    event = LaneEvent(
        event_type=LaneEventType.lane_state,
        lane_key=RouteLane(lane),
        mode=mode,
        fallback_reason=reason if mode is LaneMode.degraded_shared else None,
        note=note,
    )
    return LaneCommandResult(event, f"lane {lane}: {current.mode.value} -> {mode.value}")


async def run_lane_command(settings: Settings, lane: str, mode: LaneMode,
                           reason: FallbackReason | None) -> LaneCommandResult:
    state = AdmissionState()
    await rebuild(state, settings.kafka_bootstrap, settings.topics, settings.broker, settings.startup_timeout_s)
    result = lane_command(state, lane, mode, reason, note="operator")
    if result.published is None:
        return result
    producer = AIOKafkaProducer(**settings.broker.producer_kwargs(settings.kafka_bootstrap))
    await producer.start()
    try:
        await producer.send_and_wait(settings.topics.events_lane, result.published.to_wire(), key=lane.encode())
    finally:
        await producer.stop()
    return result
