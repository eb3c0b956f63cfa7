"""A decision that raises costs that one request a schema-valid rejection, never the agent."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime

import faust
import pytest

from schemas import (
    AdmissionDecision,
    DecisionOutcome,
    GenerationRequest,
    RejectionCode,
    RouteLane,
    SourceRecord,
)
from schemas.settings import Settings
from schemas.wire import decode
from streams.admission import agent as agent_module
from streams.admission.decide import Decision, apply
from streams.admission.state import AdmissionState, fold_lane_event
from tests.factories import T0, heartbeat, request


class DecisionBug(Exception):
    """Stands in for a bug in the pure core."""


@pytest.fixture
def service(monkeypatch: pytest.MonkeyPatch) -> Iterator[agent_module.AdmissionService]:
    real = agent_module.decide

    def decide_with_a_bug(state: AdmissionState, req: GenerationRequest, now: datetime,
                          source: SourceRecord | None = None) -> Decision:
        if req.task_id.startswith("bug"):
            raise DecisionBug("the core raised")
        return real(state, req, now, source)

    monkeypatch.setattr(agent_module, "decide", decide_with_a_bug)
    app = faust.App("catch-all-test", broker="kafka://127.0.0.1:9", store="memory://", autodiscover=False)
    svc = agent_module.AdmissionService(app, Settings(kafka_bootstrap="127.0.0.1:9"))
    for lane in RouteLane:
        fold_lane_event(svc.state, heartbeat(lane, when=T0))
    yield svc


def test_a_raising_decision_is_one_schema_valid_rejection(service: agent_module.AdmissionService,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    source = SourceRecord(topic="tasks.requested", partition=0, offset=7)
    with caplog.at_level(logging.ERROR, logger=agent_module.log.name):
        outcome = service.decide_record(request(task_id="bug-1").to_wire(), source, T0)
    d = decode(AdmissionDecision, outcome.decision.to_wire())
    assert (d.outcome, d.status, d.code) == (DecisionOutcome.rejected, 422, RejectionCode.malformed_request)
    assert d.source == source and d.detail is not None and "DecisionBug" in d.detail
    assert outcome.preempted is None and outcome.task_events == () and outcome.memory_events == ()
    assert "admission failed on" in caplog.text and "the core raised" in caplog.text
    # Derived from the record's position: a replay of the log answers with the same id.
    assert service.decide_record(request(task_id="bug-1").to_wire(), source, T0).decision.event_id == d.event_id

    apply(service.state, outcome)
    assert service.state.is_decided(0, 7)
    assert service.state.tasks == {}
    after = service.decide_record(request(task_id="fine-1").to_wire(), source.model_copy(update={"offset": 8}), T0)
    assert after.decision.outcome is DecisionOutcome.accepted
