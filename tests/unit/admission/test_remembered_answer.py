"""What admission remembers of a decision answers a re-send exactly as the decision itself would.

The dedup memory keeps each verdict as a row of plain values, not the decision's JSON: a decision
read back from the log, the row kept of it, and the same after a snapshot round trip, must render
the replay the JSON of its non-default fields gave.
"""

from __future__ import annotations

import json
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import (
    AdmissionDecision,
    FieldError,
    LaneMode,
    Priority,
    RejectionCode,
    RouteLane,
    SourceRecord,
)
from schemas.decisions import Degradation
from streams.admission.core.answer_rows import answer_row, pack_row, row_verdict, unpack_row
from streams.admission.core.verdict import Verdict
from streams.admission.events import event_id
from streams.admission.ingest import decision_verdict
from streams.admission.render import render
from tests.factories import T0, accepted, rejected, request

NOT_ANSWERS = {"request", "source", "events_task_upto", "events_lane_upto"}
NOW = T0 + timedelta(seconds=5)
SOURCE = SourceRecord(topic="t.tasks.requested", partition=0, offset=77)


def replay_from_json(decision: AdmissionDecision) -> AdmissionDecision:
    """A replay built from the decision's JSON without its defaults."""
    data = json.loads(decision.model_dump_json(exclude=NOT_ANSWERS, exclude_defaults=True))
    data.update(event_id=str(event_id("p0o77", "decision")), occurred_at=NOW.isoformat(), replayed=True,
                replay_of=data["event_id"], source=SOURCE.model_dump(mode="json"))
    return AdmissionDecision.model_validate(data)


def replay_of(original: Verdict) -> AdmissionDecision:
    verdict = Verdict(outcome=original.outcome, task_id=original.task_id, at=NOW.timestamp(), origin="p0o77",
                      position=(0, 77), replayed=True, replay_of=original)
    return render(verdict, NOW, None, SOURCE).decision


decisions = st.one_of(
    st.builds(
        lambda degraded, queued, upto: accepted(
            request(priority=Priority.standard),
            lane=RouteLane.shared if degraded else RouteLane.anisora,
            lane_mode=LaneMode.degraded_shared if degraded else LaneMode.dedicated,
            degradations=[Degradation(parameter="resolution", requested="1280x720", granted="832x480")]
            if degraded else [],
            queue_depth=queued, time_to_ready_seconds=30.0 if queued % 2 else None,
            events_task_upto=upto, events_lane_upto=upto, occurred_at=T0),
        st.booleans(), st.integers(1, 25), st.none() | st.integers(0, 10**6)),
    st.builds(
        lambda code, errors, preempted: rejected(
            code, errors=[FieldError(loc=["width", 0], msg="too wide", type="value_error")] if errors else [],
            reason="preempted" if preempted else None, occurred_at=T0),
        st.sampled_from([RejectionCode.queue_overloaded, RejectionCode.lane_unavailable]),
        st.booleans(), st.booleans()),
)


@settings(max_examples=100, deadline=None)
@given(decisions)
def test_a_remembered_decision_replays_as_its_json_did(decision: AdmissionDecision) -> None:
    expected = replay_from_json(decision).to_wire()
    remembered = decision_verdict(decision)
    assert replay_of(remembered).to_wire() == expected
    assert decision.task_id is not None
    restored = row_verdict(unpack_row(pack_row(answer_row(remembered))))
    assert replay_of(restored).to_wire() == expected
    kept = row_verdict(answer_row(remembered))  # what the dedup memory holds between snapshots
    assert replay_of(kept).to_wire() == expected
    assert kept.answer_key() == remembered.answer_key() == restored.answer_key()
