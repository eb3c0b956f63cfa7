"""The fidelity replay folds recorded worker events by the log positions each decision names."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import ModelName, RouteLane, TaskStatus
from streams.simulate.core import new_state
from streams.simulate.fidelity import check
from streams.simulate.history import History, TimedEvent
from streams.simulate.replay import LogCursor, replay_recorded
from tests.factories import degrade, heartbeat, request
from tests.lagging_agent import (
    QUEUE_LIMIT,
    SETTINGS,
    T0,
    at,
    record,
    shared_queue_history,
    task_event,
)


def without_positions(history: History) -> History:
    """The same record as written before decisions carried their folded positions."""
    return replace(history, decisions={k: replace(d, events_task_upto=None, events_lane_upto=None)
                                       for k, d in history.decisions.items()})


def test_decisions_name_the_positions_their_state_had_folded() -> None:
    recorded = shared_queue_history()
    ups = [v.folded for v in recorded.verdicts]
    assert ups == [(3, 2)] * QUEUE_LIMIT + [(3, 2), (4, 2), (5, 2)]
    codes = [v.code.value if v.code else "accepted" for v in recorded.verdicts[-3:]]
    assert codes == ["queue_overloaded", "accepted", "accepted"]


def test_a_lagging_agent_is_reproduced_exactly_by_position() -> None:
    history = shared_queue_history().history
    fidelity = check(history, replay_recorded(history, SETTINGS))
    assert fidelity.disagreements == [], [d.__dict__ for d in fidelity.disagreements]
    assert fidelity.by_position == fidelity.requests == len(history.arrivals) == QUEUE_LIMIT + 3


def test_by_log_time_the_same_record_is_missed_both_ways() -> None:
    """What the replay did before positions were recorded (and still does for older records)."""
    history = without_positions(shared_queue_history().history)
    fidelity = check(history, replay_recorded(history, SETTINGS))
    assert fidelity.by_position == 0
    missed = {d.task_id: (d.recorded, d.simulated) for d in fidelity.disagreements}
    # late-0 takes the place the agent still saw taken, so late-1 finds the queue full; late-2 was
    # decided after the agent read fill-1's start, which by time comes later
    assert missed == {"late-0": ("rejected queue_overloaded", "accepted"),
                      "late-1": ("accepted", "rejected queue_overloaded"),
                      "late-2": ("accepted", "rejected queue_overloaded")}


def test_a_decision_without_positions_in_between_folds_by_time() -> None:
    """A replay's or an unparseable record's decision names no positions: the replay folds by
    log time there and is exact again at the next decision that does."""
    history = shared_queue_history().history
    late1 = (0, QUEUE_LIMIT + 1)
    decisions = dict(history.decisions)
    decisions[late1] = replace(decisions[late1], events_task_upto=None, events_lane_upto=None)
    stripped = replace(history, decisions=decisions)
    fidelity = check(stripped, replay_recorded(stripped, SETTINGS))
    assert fidelity.disagreements == [], [d.__dict__ for d in fidelity.disagreements]
    assert fidelity.by_position == len(history.arrivals) - 1


def test_a_time_fold_stops_at_the_cap_and_claims_each_offset_once() -> None:
    state = new_state(SETTINGS)
    folded: list[int] = []
    events = [TimedEvent(float(i), task_event(f"t{i}", TaskStatus.done, at(i), 1.0), i) for i in range(5)]
    events.insert(2, events[1])  # a redelivered copy at the same offset
    cursor = LogCursor(events, "events.task", state, lambda e: folded.append(e.offset or 0))
    cursor.to_time(10.0 + T0.timestamp(), cap=3)
    assert folded == [0, 1, 2]
    cursor.to_position(5)
    assert folded == [0, 1, 2, 3, 4] and state.folded_upto["events.task"] == 5


lags = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2)), min_size=6, max_size=30)


@settings(max_examples=25, deadline=None)
@given(lags)
def test_any_lag_schedule_is_reproduced(lag: list[tuple[int, int]]) -> None:
    """Whatever prefix of each log the agent had read per request, the replay decides the same."""
    n = len(lag)
    lanes = [degrade(RouteLane.anisora, when=T0)]
    lanes += [heartbeat(RouteLane.shared, at(0.5 * i), worker=f"w{i % 2}") for i in range(n)]
    lane_log = [TimedEvent(e.occurred_at.timestamp(), e, i) for i, e in enumerate(lanes)]
    tasks = [task_event(f"r{i}", TaskStatus.processing, at(0.5 * i + 0.2)) for i in range(n)]
    task_log = [TimedEvent(e.occurred_at.timestamp(), e, i) for i, e in enumerate(tasks)]
    requests = [(0.5 * i, request(ModelName.anisora, task_id=f"r{i}", submitted_at=at(0.5 * i)))
                for i in range(n)]
    # Before request i the agent has read the events logged before it, give or take its lag.
    folded, task_upto, lane_upto = [], 0, 0
    for i, (task_lag, lane_lag) in enumerate(lag):
        task_upto = max(task_upto, i - task_lag)
        lane_upto = max(lane_upto, i + 2 - lane_lag)
        folded.append((task_upto, lane_upto))
    history = record(requests, task_log, lane_log, folded).history
    fidelity = check(history, replay_recorded(history, SETTINGS))
    assert fidelity.disagreements == [], [d.__dict__ for d in fidelity.disagreements]
    assert fidelity.by_position == n
