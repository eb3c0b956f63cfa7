"""A recorded history made by an agent that folds the worker logs behind (or ahead of) log time.

The live agent decides each request on whatever prefix of `events.task` / `events.lane` it had
folded by then, a few ms off the records' log times. `record` plays that agent with the real
core: before request i it folds exactly `folded[i]` records of each log (offset order, positions
claimed like the follower does), decides, and keeps the decisions as the record.

`shared_queue_history` is the case where the lag decides: the shared queue is full (25) when a
worker's `processing` event for its head is logged just before the next request (the agent had
not read it: refused), and another one is logged just after a request the agent decided late
(it had read it: accepted). Folding by log time gets both wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from schemas import (
    GenerationRequest,
    LaneEvent,
    ModelName,
    RouteLane,
    SourceRecord,
    TaskEvent,
    TaskStatus,
)
from schemas.settings import Settings
from streams.admission.core import Verdict
from streams.admission.render import Decision, render
from streams.admission.state import fold_lane_event, fold_task_event
from streams.simulate.core import decide_arrival, new_state
from streams.simulate.history import Arrival, History, TimedEvent
from streams.simulate.reconstruct import recorded_of
from tests import factories
from tests.factories import degrade, heartbeat, request

SETTINGS = Settings()
#: Recent: the audit schema drops heartbeats older than its TTL (the ClickHouse round trip).
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
QUEUE_LIMIT = 25


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def task_event(task_id: str, status: TaskStatus, when: datetime, seconds: float | None = None) -> TaskEvent:
    return factories.task_event(status, task_id, RouteLane.shared, model="anisora", at=when, worker_id="w-shared",
                                duration_seconds=seconds, pipeline_seconds=seconds,
                                artifact_path="/a.mp4" if status is TaskStatus.done else None)


@dataclass
class Recorded:
    history: History
    #: The core's verdicts, and the decisions as the agent wrote them (the audit rows are made
    #: from these).
    verdicts: list[Verdict]
    outcomes: list[Decision]


def record(requests: list[tuple[float, GenerationRequest]], task_log: list[TimedEvent],
           lane_log: list[TimedEvent], folded: list[tuple[int, int]]) -> Recorded:
    """Decide `requests` (seconds after T0) with `folded[i]` = (task, lane) records folded first."""
    state = new_state(SETTINGS)
    cfg = state.config
    history = History(origin="lagging agent", start=at(requests[0][0]).timestamp(),
                      end=at(requests[-1][0] + 1.0).timestamp(),
                      task_events=task_log, lane_events=lane_log)
    verdicts, outcomes = [], []
    task_n = lane_n = 0
    for offset, ((seconds, req), (task_upto, lane_upto)) in enumerate(zip(requests, folded, strict=True)):
        while task_n < task_upto:
            timed = task_log[task_n]
            assert state.claim_position(cfg.events_task_topic, timed.offset)
            assert isinstance(timed.event, TaskEvent)
            fold_task_event(state, timed.event)
            task_n += 1
        while lane_n < lane_upto:
            timed = lane_log[lane_n]
            assert state.claim_position(cfg.events_lane_topic, timed.offset)
            assert isinstance(timed.event, LaneEvent)
            fold_lane_event(state, timed.event)
            lane_n += 1
        when = at(seconds)
        arrival = Arrival(ts=when.timestamp(), at=when, partition=0, offset=offset, request=req)
        outcome = decide_arrival(state, arrival, SETTINGS.topics.tasks_requested)
        assert outcome is not None
        verdicts.append(outcome)
        source = SourceRecord(topic=SETTINGS.topics.tasks_requested, partition=0, offset=offset)
        outcomes.append(render(outcome, when, req, source))
        history.arrivals.append(arrival)
        history.decisions[(0, offset)] = recorded_of(outcome, when)
        if outcome.preempted is not None and outcome.preempted.task_id is not None:
            history.preemptions[outcome.preempted.task_id] = recorded_of(outcome.preempted, when)
    return Recorded(history, verdicts, outcomes)


def shared_queue_history() -> Recorded:
    lanes = [heartbeat(RouteLane.shared, T0, worker="w-shared"), degrade(RouteLane.anisora, when=T0)]
    lane_log = [TimedEvent(e.occurred_at.timestamp(), e, i) for i, e in enumerate(lanes)]
    fill = [(1.0 + 0.01 * i, request(ModelName.anisora, task_id=f"fill-{i}", submitted_at=at(1.0)))
            for i in range(QUEUE_LIMIT)]
    tasks = [task_event(f"earlier-{i}", TaskStatus.done, at(0.1 * i), seconds=0.4) for i in range(3)]
    tasks.append(task_event("fill-0", TaskStatus.processing, at(2.000)))  # offset 3
    tasks.append(task_event("fill-1", TaskStatus.processing, at(3.000)))  # offset 4
    task_log = [TimedEvent(e.occurred_at.timestamp(), e, i) for i, e in enumerate(tasks)]
    late = [
        # logged 1 ms after fill-0 started; the agent had not read that yet: the queue is full
        (2.001, request(ModelName.anisora, task_id="late-0", submitted_at=at(2.0))),
        # it has now: one place free
        (2.500, request(ModelName.anisora, task_id="late-1", submitted_at=at(2.5))),
        # logged 1 ms before fill-1 started, decided after the agent read that: one place free
        (2.999, request(ModelName.anisora, task_id="late-2", submitted_at=at(2.9))),
    ]
    folded = [(3, 2)] * QUEUE_LIMIT + [(3, 2), (4, 2), (5, 2)]
    return record(fill + late, task_log, lane_log, folded)
