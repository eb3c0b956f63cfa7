"""Hypothesis properties of the pure core: bounded depth, critical never degraded, replay-stable."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import (
    AdmissionDecision,
    DecisionOutcome,
    GenerationTask,
    ModelName,
    Priority,
    RouteLane,
    TaskEvent,
    TaskStatus,
)
from schemas.export import json_schema
from streams.admission.decide import apply, decide
from streams.admission.state import AdmissionState, fold_lane_event, fold_task_event
from tests.admission_states import state
from tests.factories import T0, degrade, heartbeat, request

# (kind, model, priority, width index, fps, seconds offset)
step = st.tuples(
    st.sampled_from(["request", "request", "request", "start", "degrade_phr00t"]),
    st.sampled_from(list(ModelName)),
    st.sampled_from(list(Priority)),
    st.sampled_from([(832, 480), (1280, 720), (480, 832), (1920, 1088)]),
    st.sampled_from([16, 24, 30, 60]),
    st.floats(min_value=0, max_value=10),
)


def run(steps: list, s: AdmissionState) -> list[AdmissionDecision]:  # type: ignore[type-arg]
    decisions = []
    for i, (kind, model, priority, (w, h), fps, dt) in enumerate(steps):
        now = T0 + timedelta(seconds=dt)
        if kind == "start":
            queued = list(s.queue(RouteLane.shared).items)
            if queued:
                task = GenerationTask(id=queued[0], model="anisora", type="image_to_video",
                                      status=TaskStatus.processing, created_at=T0, updated_at=T0)
                fold_task_event(s, TaskEvent(task=task, lane=RouteLane.shared))
            continue
        if kind == "degrade_phr00t":
            fold_lane_event(s, degrade(RouteLane.phr00t, when=T0))
            continue
        req = request(model, task_id=f"t{i}", priority=priority, producer="ops", width=w, height=h,
                      fps=fps, submitted_at=T0)
        outcome = decide(s, req, now)
        apply(s, outcome)
        assert s.queue(RouteLane.shared).depth <= 25
        decisions.extend(outcome.decisions)
    return decisions


@settings(max_examples=60, deadline=None)
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
    assert s.lane(RouteLane.anisora).workers["w1"].seen_at == T0 + timedelta(seconds=5)
