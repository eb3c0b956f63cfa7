"""Withdrawal from worker signals: the GPU session quota with a full fallback, the workers'
session-quota flag, and background work throttled first."""

from __future__ import annotations

from typing import Any

from schemas import (
    DecisionOutcome,
    FallbackReason,
    LaneEvent,
    ModelName,
    Priority,
    RejectionCode,
    RouteLane,
)
from streams.admission.decide import apply, decide
from streams.admission.state import AdmissionState, fold_lane_event
from tests.admission_states import state
from tests.factories import T0, at, degrade, heartbeat, request


def fill(s: AdmissionState, n: int, model: ModelName, priority: Priority = Priority.standard) -> None:
    for _ in range(n):
        out = decide(s, request(model, priority=priority, producer="ops"), T0)
        assert out.decision.outcome is DecisionOutcome.accepted
        apply(s, out)


def flagged(lane: RouteLane, exhausted: bool, **host: Any) -> LaneEvent:
    """A heartbeat whose worker says its GPU sessions are at quota, whatever the counts say."""
    return heartbeat(
        lane, T0, "w1", gpu_sessions_quota_exhausted=exhausted, **{"artifact_write_ms": None, **host}
    )


# --- gpu_quota_exhausted -------------------------------------------------------------------


def test_gpu_quota_is_exhausted_when_the_shared_fallback_is_full() -> None:
    # Every worker at its one session, fallback enabled: only a full shared queue withdraws.
    s = state(gpu_sessions_in_use=1, gpu_session_quota=1)
    fold_lane_event(s, degrade(RouteLane.phr00t, FallbackReason.capacity, when=T0))
    fill(s, 24, ModelName.phr00t)  # the shared lane is the fallback; its own quota is the queue's
    assert decide(s, request(ModelName.anisora), T0).decision.outcome is DecisionOutcome.accepted
    fill(s, 1, ModelName.phr00t)
    assert s.queue(RouteLane.shared).depth == s.config.queue_policy.max_depth
    d = decide(s, request(ModelName.anisora), T0).decision
    assert (d.code, d.status, d.lane) == (RejectionCode.gpu_quota_exhausted, 503, RouteLane.anisora)
    assert d.detail is not None and "disabled or saturated" in d.detail
    assert d.retry_after_seconds == s.config.retry_after_s


def test_a_full_fallback_does_not_withdraw_a_worker_below_its_quota() -> None:
    s = state(gpu_sessions_in_use=0, gpu_session_quota=1)
    fold_lane_event(s, degrade(RouteLane.phr00t, FallbackReason.capacity, when=T0))
    fill(s, 25, ModelName.phr00t)
    assert decide(s, request(ModelName.anisora), T0).decision.outcome is DecisionOutcome.accepted


def test_the_workers_session_quota_flag_withdraws_even_below_the_counts() -> None:
    for exhausted, expected in ((True, RejectionCode.gpu_quota_exhausted), (False, None)):
        s = state()
        fold_lane_event(s, flagged(RouteLane.anisora, exhausted, gpu_sessions_in_use=0, gpu_session_quota=2,
                                   shared_fallback_enabled=False))
        d = decide(s, request(ModelName.anisora), T0).decision
        assert d.code is expected, exhausted


def test_the_session_quota_flag_is_ignored_on_the_shared_lane() -> None:
    s = state(degraded=True)
    fold_lane_event(s, flagged(RouteLane.shared, True, shared_fallback_enabled=False))
    assert decide(s, request(ModelName.anisora), T0).decision.outcome is DecisionOutcome.accepted


# --- background is throttled first ---------------------------------------------------------


def test_background_is_refused_while_part_of_the_lane_is_starved_and_standard_is_not() -> None:
    s = state()
    for when in (0, 31):
        fold_lane_event(s, heartbeat(RouteLane.anisora, when=at(when), worker="busy", load1=7.0))
    fold_lane_event(s, heartbeat(RouteLane.anisora, when=at(31), worker="idle"))
    standard = decide(s, request(priority=Priority.standard), at(32)).decision
    assert standard.outcome is DecisionOutcome.accepted
    background = decide(s, request(priority=Priority.background), at(32)).decision
    assert (background.code, background.status) == (RejectionCode.cpu_starvation, 503)
    assert background.detail is not None and "throttled first (1 of 2 live workers" in background.detail


def test_background_is_refused_while_part_of_the_lane_is_io_saturated() -> None:
    s = state(artifact_write_ms=1600.0)
    fold_lane_event(s, heartbeat(RouteLane.anisora, worker="w2", when=T0))
    assert decide(s, request(priority=Priority.critical, producer="ops"), T0).decision.outcome \
        is DecisionOutcome.accepted
    assert decide(s, request(priority=Priority.background), T0).decision.code is RejectionCode.io_saturation


def test_background_is_accepted_when_every_worker_passes() -> None:
    s = state()
    fold_lane_event(s, heartbeat(RouteLane.anisora, worker="w2", when=T0))
    assert decide(s, request(priority=Priority.background), T0).decision.outcome is DecisionOutcome.accepted


def test_a_full_queue_gives_up_background_before_standard() -> None:
    s = state(degraded=True)
    fill(s, 20, ModelName.anisora, Priority.standard)
    fill(s, 5, ModelName.anisora, Priority.background)
    queued = list(s.queue(RouteLane.shared).items.values())
    out = decide(s, request(priority=Priority.standard), T0)
    assert out.decision.outcome is DecisionOutcome.accepted
    assert out.preempted is not None and out.preempted.task_id == queued[-1].task_id
    apply(s, out)
    # Once no background is queued, standard is refused, never preempted.
    fill(s, 4, ModelName.anisora, Priority.critical)  # each pushes out one more background item
    assert all(i.priority is not Priority.background for i in s.queue(RouteLane.shared).items.values())
    refused = decide(s, request(priority=Priority.standard), T0)
    assert refused.decision.code is RejectionCode.queue_overloaded and refused.preempted is None
    assert decide(s, request(priority=Priority.background), T0).decision.code is RejectionCode.queue_overloaded
