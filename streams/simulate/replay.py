"""Replay of the recorded set-up: recorded requests, task events and lane events, folded in the
order the live agent folded them, through the admission core. Its decisions feed the fidelity check.

Each worker log is folded in its own (offset) order. A recorded decision names how far into
`events.task` and `events.lane` its agent had folded (`events_task_upto`, `events_lane_upto`):
every event below those offsets is folded before its request is decided again, and none at or
above, so the core sees the agent's own state, whatever the agent's lag behind the logs was.
A decision without positions (a replay, an unparseable record, a record from before positions
were kept) reads no worker state or cannot say: events up to its request's log time are folded,
never past the next position recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from schemas import LaneEvent, TaskEvent
from schemas.settings import Settings
from streams.admission import core
from streams.admission.ingest import lane_facts, task_facts
from streams.admission.state import AdmissionState
from streams.simulate.core import decide_arrival, new_state
from streams.simulate.history import Arrival, History, RecordedDecision, TimedEvent
from streams.simulate.reconstruct import recorded_of


@dataclass
class SimulatedDecisions:
    """The simulator's answer per request record and per preempted task, in recorded terms."""

    primary: dict[tuple[int, int], RecordedDecision] = field(default_factory=dict)
    preemptions: dict[str, RecordedDecision] = field(default_factory=dict)
    #: Input rejections carried over from the record (ClickHouse input keeps no bytes to parse).
    carried: int = 0
    #: Requests decided on the event positions their recorded decision named (the rest: by time).
    by_position: int = 0


class LogCursor:
    """One worker log, in offset order, folded into the state up to a position or a time."""

    def __init__(self, events: list[TimedEvent], topic: str, state: AdmissionState,
                 fold: Callable[[TimedEvent], object]) -> None:
        self.events = events
        self.topic = topic
        self.state = state
        self.fold = fold
        self.next = 0

    def _take(self) -> None:
        timed = self.events[self.next]
        self.next += 1
        # Like the agent's follower: a record's position is claimed once (a duplicate offset folds
        # nothing), and the simulated decisions then name the same positions as the recorded ones.
        if self.state.claim_position(self.topic, timed.offset):
            self.fold(timed)

    def to_position(self, position: int) -> None:
        events = self.events
        while self.next < len(events) and (events[self.next].offset or 0) < position:
            self._take()

    def to_time(self, ts: float, cap: int | None) -> None:
        events = self.events
        while self.next < len(events):
            timed = events[self.next]
            if timed.ts > ts or (cap is not None and timed.offset is not None and timed.offset >= cap):
                return
            self._take()


def _positions(history: History) -> list[tuple[int | None, int | None]]:
    """Per arrival: the positions its recorded decision was made on (None where not recorded)."""
    out = []
    for arrival in history.arrivals:
        recorded = history.decisions.get((arrival.partition, arrival.offset))
        out.append((recorded.events_task_upto, recorded.events_lane_upto) if recorded else (None, None))
    return out


def _next_known(positions: list[tuple[int | None, int | None]]) -> list[tuple[int | None, int | None]]:
    """Per arrival: the next recorded position at or after it, per log (a time fold's limit)."""
    out: list[tuple[int | None, int | None]] = [(None, None)] * len(positions)
    task_next: int | None = None
    lane_next: int | None = None
    for i in range(len(positions) - 1, -1, -1):
        task_at, lane_at = positions[i]
        task_next = task_at if task_at is not None else task_next
        lane_next = lane_at if lane_at is not None else lane_next
        out[i] = (task_next, lane_next)
    return out


def replay_recorded(history: History, settings: Settings) -> SimulatedDecisions:
    state = new_state(settings)
    topic = settings.topics.tasks_requested

    def fold_task(timed: TimedEvent) -> None:
        assert isinstance(timed.event, TaskEvent)
        core.fold_task(state, task_facts(timed.event))

    def fold_lane(timed: TimedEvent) -> None:
        assert isinstance(timed.event, LaneEvent)
        facts = lane_facts(timed.event)
        if facts is not None:
            core.fold_lane(state, facts)

    # Named as the simulation's config names them, so `decide` records the positions it folded.
    tasks = LogCursor(history.task_events, state.config.events_task_topic, state, fold_task)
    lanes = LogCursor(history.lane_events, state.config.events_lane_topic, state, fold_lane)
    positions = _positions(history)
    out = SimulatedDecisions()
    for arrival, (task_at, lane_at), (task_cap, lane_cap) in zip(
            history.arrivals, positions, _next_known(positions), strict=True):
        if task_at is not None and lane_at is not None:
            out.by_position += 1
        if task_at is not None:
            tasks.to_position(task_at)
        else:
            tasks.to_time(arrival.ts, task_cap)
        if lane_at is not None:
            lanes.to_position(lane_at)
        else:
            lanes.to_time(arrival.ts, lane_cap)
        _decide(state, arrival, topic, out)
    return out


def _decide(state: AdmissionState, arrival: Arrival, topic: str, out: SimulatedDecisions) -> None:
    verdict = decide_arrival(state, arrival, topic)
    key = (arrival.partition, arrival.offset)
    if verdict is None:
        assert arrival.carried is not None
        out.primary[key] = arrival.carried
        out.carried += 1
        return
    out.primary[key] = recorded_of(verdict, arrival.at)
    if verdict.preempted is not None and verdict.preempted.task_id is not None:
        out.preemptions[verdict.preempted.task_id] = recorded_of(verdict.preempted, arrival.at)
