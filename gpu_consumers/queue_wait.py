"""Items that waited in a degraded queue longer than the policy allows are not run (pure)."""

from __future__ import annotations

from datetime import datetime

from schemas.decisions import AdmissionDecision
from schemas.enums import LaneMode
from schemas.policy import DEGRADED_QUEUE_POLICY


def waited_seconds(decision: AdmissionDecision, now: datetime) -> float:
    """Time since admission enqueued the item (its `occurred_at`); never negative."""
    return max(0.0, (now - decision.occurred_at).total_seconds())


def expired(decision: AdmissionDecision, now: datetime) -> float | None:
    """The waited seconds when the item must be dropped, else None.

    Only `degraded_shared` items carry the wait bound; dedicated lanes have no queue policy.
    """
    if decision.lane_mode is not LaneMode.degraded_shared:
        return None
    waited = waited_seconds(decision, now)
    return waited if waited > DEGRADED_QUEUE_POLICY.max_wait_seconds else None
