"""Discrete-event simulation of one scenario: recorded arrivals, simulated lane workers, and the
admission core deciding every request against the state those workers produce.

Events at one instant run in this order: lane events, worker task events (simulated, then
recorded ones from before the window), capacity changes, then requests (a request sees everything that happened up to its own time).
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import cast

from schemas import (
    DecisionOutcome,
    DegradedQueuePolicy,
    GenerationRequest,
    LaneEvent,
    LaneEventType,
    LaneMode,
    RouteLane,
    TaskEvent,
    TaskStatus,
)
from schemas.settings import Settings
from streams.admission.decide import Decision
from streams.admission.state import AdmissionState, fold_lane_event, fold_task_event
from streams.simulate.answers import Answers, Tally, answers
from streams.simulate.core import decide_arrival, new_state
from streams.simulate.history import Arrival, History
from streams.simulate.scenario import Scenario
from streams.simulate.service_times import ServiceTimes
from streams.simulate.workers import (
    Item,
    LaneWorkers,
    done_event,
    expired_event,
    heartbeat,
    started_event,
)

_LANE, _DONE, _RECORDED_TASK, _CAPACITY = 0, 1, 2, 3


def recorded_workers(history: History) -> dict[RouteLane, int]:
    """Workers per lane in the record: the distinct workers that sent heartbeats."""
    seen: dict[RouteLane, set[str]] = {lane: set() for lane in RouteLane}
    for timed in history.lane_events:
        event = timed.event
        if isinstance(event, LaneEvent) and event.event_type is LaneEventType.heartbeat and event.worker_id:
            seen[event.lane_key].add(event.worker_id)
    return {lane: len(ids) for lane, ids in seen.items()}


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class Simulation:
    def __init__(self, history: History, settings: Settings, scenario: Scenario, times: ServiceTimes,
                 policy: DegradedQueuePolicy, arrivals: Iterable[Arrival] | None = None,
                 outside_contract: str | None = None) -> None:
        self.history = history
        self.settings = settings
        self.scenario = scenario
        self.times = times
        self.policy = policy
        self.arrivals = history.arrivals if arrivals is None else arrivals
        self.outside_contract = outside_contract
        self.topic = settings.topics.tasks_requested
        self.state: AdmissionState = new_state(settings, policy)
        self.base = recorded_workers(history)
        self.lanes = {lane: LaneWorkers(lane, scenario.workers_at(lane, self.base[lane], 0.0)) for lane in RouteLane}
        self.synthetic = {lane for lane in RouteLane if scenario.overridden(lane)}
        self.last_beat: dict[RouteLane, float] = {}
        self.beat_s = settings.lane_heartbeat_interval_s
        self.preempted: set[str] = set()
        self.tally = Tally(history.start, history.end)
        self.heap: list[tuple[float, int, int, object]] = []
        self.seq = 0
        self.rng = random.Random(scenario.seed)

    # --- the event queue ---------------------------------------------------------------------
    def push(self, ts: float, kind: int, payload: object) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (ts, kind, self.seq, payload))

    def _schedule_inputs(self) -> None:
        moded = {m.lane for m in self.scenario.lane_modes}
        for timed in self.history.lane_events:
            event = timed.event
            assert isinstance(event, LaneEvent)
            if event.event_type is LaneEventType.heartbeat and event.lane_key in self.synthetic:
                continue
            if event.mode is not None and event.lane_key in moded:
                continue
            self.push(timed.ts, _LANE, event)
        start = self.history.start
        # Worker events from before the window: the agent had folded them (service times seen,
        # tasks finished); inside the window the simulated workers take over.
        for timed in self.history.task_events:
            if timed.ts < start:
                self.push(timed.ts, _RECORDED_TASK, timed.event)
        for change in self.scenario.lane_modes:
            at = start + change.at_s
            self.push(at, _LANE, LaneEvent(event_type=LaneEventType.lane_state, lane_key=change.lane,
                                           mode=change.mode, fallback_reason=change.reason,
                                           occurred_at=_utc(at)))
        for gpu in self.scenario.gpus:
            self.push(start + gpu.from_s, _CAPACITY, gpu.lane)
            self.push(start + gpu.until_s, _CAPACITY, gpu.lane)

    def _scaled(self) -> Iterator[Arrival]:
        k = self.scenario.arrival_scale
        if k == 1.0:
            yield from self.arrivals
            return
        whole, frac = int(k), k - int(k)
        offset = 0
        for arrival in self.arrivals:
            copies = whole + (1 if self.rng.random() < frac else 0)
            for n in range(copies if arrival.request is not None else min(copies, 1)):
                request = arrival.request
                if request is not None and n > 0:
                    request = request.model_copy(update={"task_id": f"{request.task_id}.k{n}"})
                yield Arrival(arrival.ts, arrival.at, arrival.partition, offset, request,
                              arrival.payload if n == 0 else None, arrival.carried, arrival.shape_known)
                offset += 1

    # --- the run -----------------------------------------------------------------------------
    def run(self) -> Answers:
        self._schedule_inputs()
        heap = self.heap
        for arrival in self._scaled():
            while heap and heap[0][0] <= arrival.ts:
                self._step(*heapq.heappop(heap))
            self._arrive(arrival)
        while heap and heap[0][0] <= self.history.end:
            self._step(*heapq.heappop(heap))
        self._account_capacity()
        return answers(self.scenario.name, self.tally, self.outside_contract)

    def _step(self, ts: float, kind: int, _: int, payload: object) -> None:
        if kind == _LANE:
            assert isinstance(payload, LaneEvent)
            fold_lane_event(self.state, payload)
        elif kind == _DONE:
            lane, slot, item = cast(tuple[RouteLane, int, Item], payload)
            self.lanes[lane].busy.discard(slot)
            fold_task_event(self.state, done_event(item, lane))
            self._dispatch(lane, ts)
        elif kind == _RECORDED_TASK:
            assert isinstance(payload, TaskEvent)
            fold_task_event(self.state, payload)
        else:
            assert isinstance(payload, RouteLane)
            lane = payload
            self.lanes[lane].capacity = self.scenario.workers_at(lane, self.base[lane], ts - self.history.start)
            self._dispatch(lane, ts)

    def _beat(self, ts: float, now: datetime) -> None:
        for lane in self.synthetic:
            if ts - self.last_beat.get(lane, float("-inf")) < self.beat_s:
                continue
            self.last_beat[lane] = ts
            workers = self.lanes[lane]
            for slot in range(workers.capacity):
                fold_lane_event(self.state, heartbeat(lane, slot, slot in workers.busy, now))

    def _arrive(self, arrival: Arrival) -> None:
        ts = arrival.ts
        if self.synthetic:
            self._beat(ts, arrival.at)
        outcome = self._decide(arrival)
        if outcome is None:
            assert arrival.carried is not None
            self.tally.refuse(ts, arrival.carried.code or "unknown")
            return
        decision = outcome.decision
        if decision.replayed:
            return
        if decision.outcome is DecisionOutcome.accepted:
            assert decision.lane is not None and decision.request is not None and decision.task_id is not None
            self.tally.accept(ts, decision.lane.value, decision.queue_depth or 0)
            request = self._runs_as(arrival, decision.request)
            item = Item(decision.task_id, decision.request.model.value, ts,
                        decision.lane_mode or LaneMode.dedicated,
                        self.times.seconds(decision.task_id, request, arrival.shape_known))
            self.lanes[decision.lane].fifo.append(item)
        else:
            self.tally.refuse(ts, decision.code.value if decision.code else "unknown")
        if outcome.preempted is not None and outcome.preempted.task_id is not None:
            self.preempted.add(outcome.preempted.task_id)
            self.tally.refuse(ts, "queue_overloaded", preempted_acceptance=True)
        for event in outcome.task_events:
            if event.task.status is TaskStatus.failed:
                fold_task_event(self.state, event)
        if decision.lane is not None and decision.outcome is DecisionOutcome.accepted:
            self._dispatch(decision.lane, ts)

    def _decide(self, arrival: Arrival) -> Decision | None:
        """The admission core's part of an arrival (its own method: `bench/` times it apart)."""
        return decide_arrival(self.state, arrival, self.topic)

    def _runs_as(self, arrival: Arrival, granted: GenerationRequest) -> GenerationRequest:
        """What the GPU runs: the granted request, or the full one with elastic step-down off."""
        if self.scenario.elastic or arrival.request is None:
            return granted
        return arrival.request

    def _dispatch(self, lane: RouteLane, ts: float) -> None:
        workers = self.lanes[lane]
        fifo, busy = workers.fifo, workers.busy
        while fifo:
            slot = workers.idle_slot()
            if slot is None:
                return
            item = fifo.popleft()
            if item.task_id in self.preempted:
                continue
            if item.mode is LaneMode.degraded_shared and ts - item.enqueued > self.policy.max_wait_seconds:
                fold_task_event(self.state, expired_event(item, lane))
                self.tally.expired += 1
                continue
            busy.add(slot)
            fold_task_event(self.state, started_event(item, lane))
            self.tally.waits.append(ts - item.enqueued)
            self.tally.run(lane.value, ts, item.service_s)
            self.push(ts + item.service_s, _DONE, (lane, slot, item))

    def _account_capacity(self) -> None:
        start, end = self.history.start, self.history.end
        for lane in RouteLane:
            cuts = sorted({start, end, *(min(end, max(start, start + t)) for g in self.scenario.gpus
                                         if g.lane is lane for t in (g.from_s, g.until_s))})
            total = 0.0
            for a, b in itertools.pairwise(cuts):
                total += (b - a) * self.scenario.workers_at(lane, self.base[lane], a - start)
            self.tally.worker_s[lane.value] = total
