"""One-shot fold of the logs into a state (operators' commands; the agent uses `LogFollower`)."""

from __future__ import annotations

from schemas import Topics
from schemas.broker_profile import BrokerProfile
from streams.admission.follower import LogFollower
from streams.admission.state import AdmissionState


async def rebuild(
    state: AdmissionState, bootstrap: str, topics: Topics, profile: BrokerProfile, timeout_s: float
) -> int:
    """Folds the four logs into `state` up to their current ends; returns how many were read."""
    follower = LogFollower(state, bootstrap, topics, profile)
    await follower.start()
    try:
        return await follower.catch_up(timeout_s)
    finally:
        await follower.stop()
