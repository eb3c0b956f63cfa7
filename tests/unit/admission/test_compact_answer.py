"""A remembered answer leaves out exactly what `exclude_defaults` would (the replay puts it back)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import AdmissionDecision, FieldError, LaneMode, Priority, RejectionCode, RouteLane
from schemas.decisions import Degradation
from streams.admission.state import compact_answer
from tests.factories import T0, accepted, rejected, request

NOT_ANSWERS = {"request", "source", "events_task_upto", "events_lane_upto"}


def by_defaults(decision: AdmissionDecision) -> bytes:
    return decision.model_dump_json(exclude=NOT_ANSWERS, exclude_defaults=True).encode()


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
        lambda code, errors, earlier, replay: rejected(
            code, errors=[FieldError(loc=["width"], msg="too wide", type="value_error")] if errors else [],
            decided_earlier=earlier, replayed=replay, occurred_at=T0),
        st.sampled_from([RejectionCode.queue_overloaded, RejectionCode.lane_unavailable]),
        st.booleans(), st.booleans(), st.booleans()),
)


@settings(max_examples=100, deadline=None)
@given(decisions)
def test_the_answer_is_the_decision_without_its_defaults(decision: AdmissionDecision) -> None:
    assert compact_answer(decision) == by_defaults(decision)
