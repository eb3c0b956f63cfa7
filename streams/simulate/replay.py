"""Replay of the recorded set-up: recorded requests, task events and lane events, folded in the
order the live agent saw them, through the admission core. Its decisions feed the fidelity check.

The agent folds its three inputs as they arrive; the log keeps each input's own order, and the
record times interleave them (requests by their log time, events by `occurred_at`).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field

from schemas import LaneEvent, TaskEvent
from schemas.settings import Settings
from streams.admission.state import fold_lane_event, fold_task_event
from streams.simulate.core import decide_arrival, new_state
from streams.simulate.history import Arrival, History, RecordedDecision, TimedEvent
from streams.simulate.reconstruct import as_recorded

#: At equal times: lane events, then task events, then requests (an event stamped at the
#: request's millisecond was sent before the request's record reached the agent).
_LANE, _TASK, _REQUEST = 0, 1, 2


@dataclass
class SimulatedDecisions:
    """The simulator's answer per request record and per preempted task, in recorded terms."""

    primary: dict[tuple[int, int], RecordedDecision] = field(default_factory=dict)
    preemptions: dict[str, RecordedDecision] = field(default_factory=dict)
    #: Input rejections carried over from the record (ClickHouse input keeps no bytes to parse).
    carried: int = 0


def merged(history: History) -> Iterator[tuple[float, int, Arrival | TimedEvent]]:
    lanes: Iterator[tuple[float, int, int, Arrival | TimedEvent]] = (
        (e.ts, _LANE, i, e) for i, e in enumerate(history.lane_events))
    tasks: Iterator[tuple[float, int, int, Arrival | TimedEvent]] = (
        (e.ts, _TASK, i, e) for i, e in enumerate(history.task_events))
    requests: Iterator[tuple[float, int, int, Arrival | TimedEvent]] = (
        (a.ts, _REQUEST, i, a) for i, a in enumerate(history.arrivals))
    for ts, kind, _, item in heapq.merge(lanes, tasks, requests, key=lambda x: (x[0], x[1], x[2])):
        yield ts, kind, item


def replay_recorded(history: History, settings: Settings) -> SimulatedDecisions:
    state = new_state(settings)
    topic = settings.topics.tasks_requested
    out = SimulatedDecisions()
    for _, kind, item in merged(history):
        if kind == _REQUEST:
            assert isinstance(item, Arrival)
            outcome = decide_arrival(state, item, topic)
            key = (item.partition, item.offset)
            if outcome is None:
                assert item.carried is not None
                out.primary[key] = item.carried
                out.carried += 1
                continue
            out.primary[key] = as_recorded(outcome.decision)
            if outcome.preempted is not None and outcome.preempted.task_id is not None:
                out.preemptions[outcome.preempted.task_id] = as_recorded(outcome.preempted)
            continue
        assert isinstance(item, TimedEvent)
        event = item.event
        if isinstance(event, LaneEvent):
            fold_lane_event(state, event)
        else:
            assert isinstance(event, TaskEvent)
            fold_task_event(state, event)
    return out
