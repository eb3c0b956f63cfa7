"""Every rule sees the same swept shared depth, whichever lane the request is routed to.

Reproduces a refusal seen from outside: a `phr00t` request refused `503 gpu_quota_exhausted`
("shared fallback saturated") while everything waiting on the shared lane had passed its 30 s
wait; an `anisora` (degraded) request right after was accepted on `shared` at depth 1. The
withdrawal check of a dedicated lane counted the shared depth before the expiry sweep, which ran
only for requests routed to the degraded lane.
"""

from __future__ import annotations

from datetime import timedelta

from schemas import DecisionOutcome, ModelName, Priority, RouteLane
from streams.admission.decide import apply, decide
from streams.admission.state import AdmissionConfig, AdmissionState, fold_lane_event
from tests.factories import T0, degrade, heartbeat, request

LATER = T0 + timedelta(seconds=31)


def full_expired_shared_queue() -> AdmissionState:
    s = AdmissionState(config=AdmissionConfig(heartbeat_stale_s=60.0))
    fold_lane_event(s, degrade(RouteLane.anisora, when=T0))
    for when in (T0, LATER):
        fold_lane_event(s, heartbeat(RouteLane.shared, when, "shared-1"))
        fold_lane_event(s, heartbeat(RouteLane.anisora, when, "anisora-1"))
        # phr00t's only worker is at its GPU session quota: it may serve only while the shared
        # fallback is not saturated.
        fold_lane_event(s, heartbeat(RouteLane.phr00t, when, "phr00t-1", gpu_sessions_in_use=1,
                                     gpu_session_quota=1))
    for i in range(25):
        apply(s, decide(s, request(ModelName.anisora, task_id=f"old-{i}", priority=Priority.standard), T0))
    assert s.queue(RouteLane.shared).depth == 25
    return s


def test_a_dedicated_request_sees_the_shared_queue_after_its_expired_items_left() -> None:
    s = full_expired_shared_queue()
    out = decide(s, request(ModelName.phr00t, task_id="p-1"), LATER)
    assert out.decision.outcome is DecisionOutcome.accepted, out.decision.detail
    assert out.decision.lane is RouteLane.phr00t
    assert len(out.expired) == 25
    apply(s, out)
    assert s.queue(RouteLane.shared).depth == 0


def test_the_swept_depth_is_the_same_for_both_routes_at_the_same_instant() -> None:
    s = full_expired_shared_queue()
    phr00t = decide(s, request(ModelName.phr00t, task_id="p-1"), LATER)
    anisora = decide(s, request(ModelName.anisora, task_id="a-1"), LATER)
    assert phr00t.decision.outcome is anisora.decision.outcome is DecisionOutcome.accepted
    assert anisora.decision.queue_depth == 1
    assert phr00t.expired == anisora.expired
