"""Hypothesis properties of the pure core: bounded depth, critical never degraded, replay-stable,
and the clock's two limits: a lane silent past the heartbeat staleness serves nothing, and no
item outlives the degraded queue's wait."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import example, given, settings
from hypothesis import strategies as st

from schemas import (
    AdmissionDecision,
    DecisionOutcome,
    ModelName,
    Priority,
    RejectionCode,
    RouteLane,
    TaskStatus,
)
from schemas.export import json_schema
from schemas.policy import DEGRADED_QUEUE_POLICY
from streams.admission.decide import apply, decide
from streams.admission.state import (
    AdmissionConfig,
    AdmissionState,
    fold_lane_event,
    fold_task_event,
)
from tests.admission_states import state
from tests.factories import T0, degrade, heartbeat, request, task, task_event

#: Seconds between steps: exact binary fractions, so the clock hits the 15 s staleness and 30 s
#: expiry boundaries exactly as often as it crosses them.
STEP_SECONDS = [0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0]
STALE_S = AdmissionConfig().heartbeat_stale_s
MAX_WAIT_S = DEGRADED_QUEUE_POLICY.max_wait_seconds

# (kind, model, priority, (width, height), fps, seconds since the previous step)
step = st.tuples(
    st.sampled_from(["request", "request", "request", "start", "degrade_phr00t", "heartbeat"]),
    st.sampled_from(list(ModelName)),
    st.sampled_from(list(Priority)),
    st.sampled_from([(832, 480), (1280, 720), (480, 832), (1920, 1088)]),
    st.sampled_from([16, 24, 30, 60]),
    st.sampled_from(STEP_SECONDS),
)


def run(steps: list, s: AdmissionState) -> list[AdmissionDecision]:  # type: ignore[type-arg]
    """Plays `steps` on `s` (built by `state(degraded=True)`: every lane heard from at T0) and
    checks, per request, what the clock implies: a lane silent for more than 15 s serves nothing
    (`stale_signal`), one heard from within 15 s is never refused for it, and no queued item of
    the shared lane has waited more than 30 s once a request routed there was decided."""
    decisions = []
    now = T0
    heard = dict.fromkeys(RouteLane, T0)
    phr00t_degraded = False
    accepted_at: dict[str, datetime] = {}
    for i, (kind, model, priority, (w, h), fps, dt) in enumerate(steps):
        now += timedelta(seconds=dt)
        if kind == "start":
            queued = list(s.queue(RouteLane.shared).items)
            if queued:
                started = task(TaskStatus.processing, id=queued[0], model="anisora", created_at=T0, updated_at=T0)
                fold_task_event(s, task_event(TaskStatus.processing, lane=RouteLane.shared, worker_id=None,
                                              task=started))
            continue
        if kind == "degrade_phr00t":
            fold_lane_event(s, degrade(RouteLane.phr00t, when=now))
            phr00t_degraded = True
            continue
        if kind == "heartbeat":
            for lane in RouteLane:
                fold_lane_event(s, heartbeat(lane, now))
                heard[lane] = now
            continue
        req = request(model, task_id=f"t{i}", priority=priority, producer="ops", width=w, height=h,
                      fps=fps, submitted_at=T0)
        outcome = decide(s, req, now)
        apply(s, outcome)
        d = outcome.decision
        lane = RouteLane.phr00t if model is ModelName.phr00t and not phr00t_degraded else RouteLane.shared
        assert d.lane is lane
        stale = (now - heard[lane]).total_seconds() > STALE_S
        refused_stale = d.code is RejectionCode.lane_unavailable and d.reason == "stale_signal"
        assert refused_stale == stale, (now - heard[lane], d.code, d.reason)
        if d.outcome is DecisionOutcome.accepted:
            accepted_at[d.task_id] = now
        if lane is RouteLane.shared:
            waited = [(now - accepted_at[t]).total_seconds() for t in s.queue(RouteLane.shared).items]
            assert all(seconds <= MAX_WAIT_S for seconds in waited), waited
        assert s.queue(RouteLane.shared).depth <= 25
        decisions.extend(outcome.decisions)
    return decisions


#: A lane goes stale mid-sequence, a heartbeat revives it, and a queued item outlives the 30 s wait.
STALE_THEN_REVIVED = [
    ("request", ModelName.anisora, Priority.background, (832, 480), 16, 0.0),
    ("request", ModelName.phr00t, Priority.standard, (832, 480), 16, 16.0),
    ("heartbeat", ModelName.phr00t, Priority.standard, (832, 480), 16, 0.25),
    ("request", ModelName.anisora, Priority.standard, (832, 480), 16, 0.0),
    ("heartbeat", ModelName.phr00t, Priority.standard, (832, 480), 16, 8.0),
    ("heartbeat", ModelName.phr00t, Priority.standard, (832, 480), 16, 8.0),
    ("heartbeat", ModelName.phr00t, Priority.standard, (832, 480), 16, 8.0),
    ("heartbeat", ModelName.phr00t, Priority.standard, (832, 480), 16, 8.0),
    ("request", ModelName.anisora, Priority.standard, (832, 480), 16, 0.0),
]


def test_a_silent_lane_serves_nothing_until_heard_from_again() -> None:
    s = state(degraded=True)
    decisions = run(STALE_THEN_REVIVED, s)
    assert [(d.task_id, d.outcome.value, d.code, d.reason) for d in decisions] == [
        ("t0", "accepted", None, None),
        ("t1", "rejected", RejectionCode.lane_unavailable, "stale_signal"),
        ("t3", "accepted", None, None),
        ("t8", "accepted", None, None),
    ]
    # t0 and t3 waited past 30 s by t8's decision: only t8 is queued
    assert list(s.queue(RouteLane.shared).items) == ["t8"]


@settings(max_examples=60, deadline=None)
@example(STALE_THEN_REVIVED)
@given(st.lists(step, min_size=1, max_size=80))
def test_degraded_depth_never_exceeds_25_and_critical_never_degraded(steps: list) -> None:  # type: ignore[type-arg]
    s = state(degraded=True)
    for d in run(steps, s):
        if d.outcome is DecisionOutcome.accepted:
            assert d.queue_depth is not None and d.queue_depth <= 25
            if d.priority is Priority.critical:
                assert d.degradations == []
            if d.lane_mode is not None and d.lane_mode.value == "dedicated":
                assert d.degradations == []
        if d.reason == "preempted":
            assert d.priority is Priority.background


@settings(max_examples=30, deadline=None)
@given(st.lists(step, min_size=1, max_size=60))
def test_same_log_same_decisions(steps: list) -> None:  # type: ignore[type-arg]
    first = run(steps, state(degraded=True))
    second = run(steps, state(degraded=True))
    assert [d.to_wire() for d in first] == [d.to_wire() for d in second]


@settings(max_examples=30, deadline=None)
@given(st.lists(step, min_size=1, max_size=40))
def test_every_decision_is_schema_valid(steps: list) -> None:  # type: ignore[type-arg]
    import json

    import jsonschema

    schema = json_schema(AdmissionDecision)
    for d in run(steps, state(degraded=True)):
        jsonschema.validate(json.loads(d.to_wire()), schema)


def test_heartbeats_only_move_forward() -> None:
    s = state()
    fold_lane_event(s, heartbeat(RouteLane.anisora, when=T0 + timedelta(seconds=5)))
    fold_lane_event(s, heartbeat(RouteLane.anisora, when=T0))
    assert s.lane(RouteLane.anisora).workers["w1"].seen_at == (T0 + timedelta(seconds=5)).timestamp()
