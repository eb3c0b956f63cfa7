"""Every verdict says which rule decided it and the values that rule read."""

from __future__ import annotations

from datetime import timedelta

from schemas import ModelName, Priority, RejectionCode, RouteLane, SourceRecord
from streams.admission import core
from streams.admission.core.verdict import Rule
from streams.admission.decide import apply, decide
from streams.admission.ingest import request_facts
from streams.admission.state import fold_lane_event
from tests.admission_states import state
from tests.factories import T0, heartbeat, request

SRC = SourceRecord(topic="t.tasks.requested", partition=0, offset=3)


def verdict(s: core.AdmissionState, **fields: object) -> core.Verdict:
    req = request(fields.pop("model", ModelName.phr00t), **fields)  # type: ignore[arg-type]
    return core.decide(s, request_facts(req, SRC, T0), T0.timestamp())


def test_an_acceptance_names_the_route_the_queue_reading_and_the_workers_checked() -> None:
    s = state()
    fold_lane_event(s, heartbeat(RouteLane.phr00t, T0, "w2", artifact_write_ms=4000.0))
    trace = verdict(s).trace
    assert trace is not None and trace.rule is Rule.accepted
    assert trace.route is not None and trace.route.lane is RouteLane.phr00t
    assert trace.queue is not None and (trace.queue.depth, trace.queue.workers) == (0, 1)
    assert trace.health is not None
    checks = {c.worker_id: c.problem for c in trace.health.checks}
    assert checks == {"w1": None, "w2": RejectionCode.io_saturation}


def test_a_withdrawal_refusal_says_why_each_worker_failed() -> None:
    s = state(artifact_write_ms=4000.0)
    v = verdict(s)
    assert v.code is RejectionCode.io_saturation
    assert v.trace is not None and v.trace.rule is Rule.withdrawal and v.trace.health is not None
    assert [(c.worker_id, c.serving, c.problem) for c in v.trace.health.checks] == [
        ("w1", True, RejectionCode.io_saturation)]


def test_a_queue_refusal_carries_the_depth_wait_and_their_parts() -> None:
    s = state(degraded=True)
    for i in range(25):
        apply(s, decide(s, request(ModelName.anisora, task_id=f"q{i}"), T0))
    v = verdict(s, model=ModelName.anisora, task_id="late")
    assert v.code is RejectionCode.queue_overloaded and v.reason == "depth"
    assert v.trace is not None and v.trace.rule is Rule.queue and v.trace.queue is not None
    reading = v.trace.queue
    assert (reading.depth, reading.max_depth, reading.max_wait_s, reading.workers) == (25, 25, 30.0, 1)


def test_expired_items_are_counted_in_the_reading() -> None:
    s = state(degraded=True)
    for i in range(3):
        apply(s, decide(s, request(ModelName.anisora, task_id=f"old{i}"), T0))
    later = T0 + timedelta(seconds=31)
    for lane in RouteLane:
        fold_lane_event(s, heartbeat(lane, later))
    req = request(ModelName.anisora, task_id="new")
    v = core.decide(s, request_facts(req, SRC, later), later.timestamp())
    assert v.trace is not None and v.trace.queue is not None
    assert (v.trace.queue.expired, v.trace.queue.depth) == (3, 0) and len(v.expired) == 3


def test_the_early_rules_name_themselves() -> None:
    s = state()
    assert verdict(s, priority=Priority.critical, producer="web").trace.rule is Rule.authorisation  # type: ignore[union-attr]
    assert verdict(s, input_image="s3://bucket/i.png").trace.rule is Rule.input  # type: ignore[union-attr]
    first = verdict(s, task_id="same")
    core.apply(s, first)
    assert verdict(s, task_id="same").trace.rule is Rule.replay  # type: ignore[union-attr]
