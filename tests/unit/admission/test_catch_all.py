"""A decision that raises costs that one request a schema-valid rejection, never the agent.

Pure: `decide_record` (the agent's and the simulator's one entry into the core) over an explicit
state, with a decider that fails on some requests standing in for a bug in the core.
"""

from __future__ import annotations

import logging

import pytest

from schemas import (
    AdmissionDecision,
    DecisionOutcome,
    RejectionCode,
    RouteLane,
    SourceRecord,
)
from schemas.wire import decode
from streams.admission import record as record_module
from streams.admission.core import RequestFacts, Verdict, decide
from streams.admission.decide import apply
from streams.admission.record import decide_record
from streams.admission.state import AdmissionState, fold_lane_event
from tests.factories import T0, heartbeat, request


class DecisionBug(Exception):
    """Stands in for a bug in the pure core."""


def decide_with_a_bug(state: AdmissionState, facts: RequestFacts, at: float) -> Verdict:
    if facts.task_id.startswith("bug"):
        raise DecisionBug("the core raised")
    return decide(state, facts, at)


@pytest.fixture
def state() -> AdmissionState:
    live = AdmissionState()
    for lane in RouteLane:
        fold_lane_event(live, heartbeat(lane, when=T0))
    return live


def test_a_raising_decision_is_one_schema_valid_rejection(state: AdmissionState,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    source = SourceRecord(topic="tasks.requested", partition=0, offset=7)
    with caplog.at_level(logging.ERROR, logger=record_module.log.name):
        outcome = decide_record(state, request(task_id="bug-1").to_wire(), source, T0, decide_with_a_bug)
    d = decode(AdmissionDecision, outcome.decision.to_wire())
    assert (d.outcome, d.status, d.code) == (DecisionOutcome.rejected, 422, RejectionCode.malformed_request)
    assert d.source == source and d.detail is not None and "DecisionBug" in d.detail
    assert outcome.preempted is None and outcome.task_events == () and outcome.memory_events == ()
    assert "admission failed on" in caplog.text and "the core raised" in caplog.text
    # Derived from the record's position: a replay of the log answers with the same id.
    again = decide_record(state, request(task_id="bug-1").to_wire(), source, T0, decide_with_a_bug)
    assert again.decision.event_id == d.event_id

    apply(state, outcome)
    assert state.is_decided(0, 7)
    assert state.tasks == {}
    after = decide_record(state, request(task_id="fine-1").to_wire(), source.model_copy(update={"offset": 8}),
                          T0, decide_with_a_bug)
    assert after.decision.outcome is DecisionOutcome.accepted
