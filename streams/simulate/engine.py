"""Discrete-event simulation of one scenario: recorded arrivals, simulated lane workers, and the
admission core deciding every request against the state those workers produce.

Events at one instant run in this order: lane events, worker task events (simulated, then
recorded ones from before the window), capacity changes, then requests (a request sees everything that happened up to its own time).
"""

from __future__ import annotations

import gc
import heapq
import itertools
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime

from schemas import (
    DecisionOutcome,
    DegradedQueuePolicy,
    LaneEvent,
    LaneEventType,
    LaneMode,
    RouteLane,
    TaskEvent,
)
from schemas.settings import Settings
from streams.admission import core
from streams.admission.core.facts import (
    HeartbeatFacts,
    LaneStateFacts,
    RequestFacts,
    TaskFacts,
    UnparsedFacts,
)
from streams.admission.ingest import lane_facts, task_facts
from streams.simulate.answers import Answers, Tally, answers
from streams.simulate.core import arrival_facts, decide_arrival, new_state
from streams.simulate.history import Arrival, History
from streams.simulate.scenario import Scenario
from streams.simulate.service_times import ServiceTimes
from streams.simulate.workers import (
    Job,
    LaneWorkers,
    done_event,
    expired_event,
    heartbeat,
    started_event,
)

_LANE, _DONE, _RECORDED_TASK, _CAPACITY = 0, 1, 2, 3
_HEARTBEAT = LaneEventType.heartbeat
_DEDICATED = LaneMode.dedicated


def recorded_workers(history: History) -> dict[RouteLane, int]:
    """Workers per lane in the record: the distinct workers that sent heartbeats."""
    seen: dict[RouteLane, set[str]] = {lane: set() for lane in RouteLane}
    for timed in history.lane_events:
        event = timed.event
        if isinstance(event, LaneEvent) and event.event_type is _HEARTBEAT and event.worker_id:
            seen[event.lane_key].add(event.worker_id)
    return {lane: len(ids) for lane, ids in seen.items()}


def _utc_ts(ts: float) -> float:
    """`ts` as a record time: whole microseconds, as a wire timestamp would carry it."""
    return datetime.fromtimestamp(ts, UTC).timestamp()


_ACCEPTED = DecisionOutcome.accepted
_DEGRADED = LaneMode.degraded_shared


class Simulation:
    def __init__(self, history: History, settings: Settings, scenario: Scenario, times: ServiceTimes,
                 policy: DegradedQueuePolicy, arrivals: Iterable[Arrival] | None = None,
                 outside_contract: str | None = None, core_clock: Callable[[], float] | None = None,
                 ) -> None:
        self.history = history
        self.settings = settings
        self.scenario = scenario
        self.times = times
        self.policy = policy
        self.arrivals = history.arrivals if arrivals is None else arrivals
        self.outside_contract = outside_contract
        self.topic = settings.topics.tasks_requested
        self.state: core.AdmissionState = new_state(settings, policy)
        self.base = recorded_workers(history)
        self.lanes = {lane: LaneWorkers(lane, scenario.workers_at(lane, self.base[lane], 0.0)) for lane in RouteLane}
        #: Lanes whose workers the scenario sets: their heartbeats are simulated, not replayed.
        self.synthetic = {lane for lane in RouteLane if scenario.overridden(lane)}
        self.beating = [self.lanes[lane] for lane in RouteLane if lane in self.synthetic]
        self.last_beat = float("-inf")
        self.beat_s = settings.lane_heartbeat_interval_s
        #: The core's limits (`queue_limits`), read by the workers: the same wait drops an item.
        self.max_wait_s = self.state.config.queue_policy.max_wait_s
        self.elastic = scenario.elastic
        self.preempted: set[str] = set()
        self.tally = Tally(history.start, history.end)
        self.heap: list[tuple[float, int, int, object]] = []
        self.seq = itertools.count(1)
        self.rng = random.Random(scenario.seed)
        #: Events the run handled: arrivals, then every queued event up to the window's end.
        self.events = 0
        #: Given a clock, the run adds up the time the admission core takes (`core_s`): the
        #: benchmark's split of the simulator's time.
        self.core_clock = core_clock
        self.core_s = 0.0

    # --- the event queue ---------------------------------------------------------------------
    def push(self, ts: float, kind: int, payload: object) -> None:
        heapq.heappush(self.heap, (ts, kind, next(self.seq), payload))

    def _schedule_inputs(self) -> None:
        moded = {m.lane for m in self.scenario.lane_modes}
        for timed in self.history.lane_events:
            event = timed.event
            assert isinstance(event, LaneEvent)
            if event.event_type is _HEARTBEAT and event.lane_key in self.synthetic:
                continue
            if event.mode is not None and event.lane_key in moded:
                continue
            facts = lane_facts(event)
            if facts is not None:
                self.push(timed.ts, _LANE, facts)
        start = self.history.start
        # Worker events from before the window: the agent had folded them (service times seen,
        # tasks finished); inside the window the simulated workers take over.
        for timed in self.history.task_events:
            if timed.ts < start:
                assert isinstance(timed.event, TaskEvent)
                self.push(timed.ts, _RECORDED_TASK, task_facts(timed.event))
        for change in self.scenario.lane_modes:
            at = start + change.at_s
            self.push(at, _LANE, LaneStateFacts(lane=change.lane, availability=None, warm=None,
                                                mode=change.mode, fallback_reason=change.reason,
                                                at=_utc_ts(at)))
        for gpu in self.scenario.gpus:
            self.push(start + gpu.from_s, _CAPACITY, gpu.lane)
            self.push(start + gpu.until_s, _CAPACITY, gpu.lane)

    def _scaled(self) -> Iterator[Arrival]:
        if self.scenario.arrival_scale == 1.0:
            return iter(self.arrivals)
        return self._rescaled(self.scenario.arrival_scale)

    def _rescaled(self, k: float) -> Iterator[Arrival]:
        whole, frac = int(k), k - int(k)
        offset = 0
        topic = self.topic
        for arrival in self.arrivals:
            copies = whole + (1 if self.rng.random() < frac else 0)
            facts = arrival_facts(arrival, topic) if arrival.request is not None or arrival.facts is not None else None
            for n in range(copies if isinstance(facts, RequestFacts) else min(copies, 1)):
                copy = None
                if isinstance(facts, RequestFacts):
                    copy = replace(facts, task_id=f"{facts.task_id}.k{n}" if n else facts.task_id,
                                   origin=f"p{arrival.partition}o{offset}", position=(arrival.partition, offset))
                yield Arrival(arrival.ts, arrival.at, arrival.partition, offset, None,
                              arrival.payload if n == 0 else None, arrival.carried, arrival.shape_known,
                              facts=copy, at_ts=arrival.at_ts)
                offset += 1

    # --- the run -----------------------------------------------------------------------------
    def run(self) -> Answers:
        # Every decision leaves long-lived objects without cycles (the dedup memory keeps each
        # task's verdict): the cyclic collector would scan them again and again as the run grows
        # and never free one. It pauses for the run; reference counting still frees the rest.
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._run()
        finally:
            if collecting:
                gc.enable()

    def _run(self) -> Answers:
        self._schedule_inputs()
        heap, pop, step, arrive = self.heap, heapq.heappop, self._step, self._arrive
        events = 0
        for arrival in self._scaled():
            ts = arrival.ts
            while heap and heap[0][0] <= ts:
                step(*pop(heap))
                events += 1
            arrive(arrival)
            events += 1
        end = self.history.end
        while heap and heap[0][0] <= end:
            step(*pop(heap))
            events += 1
        self.events = events
        self._account_capacity()
        return answers(self.scenario.name, self.tally, self.outside_contract)

    def _step(self, ts: float, kind: int, _: int, payload: object) -> None:
        if kind == _DONE:
            assert isinstance(payload, Job)
            workers = self.lanes[payload.lane]
            workers.release(payload.slot)
            core.fold_task(self.state, done_event(payload, ts))
            self._dispatch(workers, ts)
        elif kind == _LANE:
            assert isinstance(payload, HeartbeatFacts | LaneStateFacts)
            core.fold_lane(self.state, payload)
        elif kind == _RECORDED_TASK:
            assert isinstance(payload, TaskFacts)
            core.fold_task(self.state, payload)
        else:
            assert isinstance(payload, RouteLane)
            workers = self.lanes[payload]
            workers.resize(self.scenario.workers_at(payload, self.base[payload], ts - self.history.start))
            self._dispatch(workers, ts)

    def _beat(self, ts: float, now: float) -> None:
        """Every simulated worker's heartbeat, once per heartbeat interval (checked at arrivals:
        only a decision reads them)."""
        self.last_beat = ts
        state = self.state
        fold = core.fold_heartbeat
        for workers in self.beating:
            busy, ids, lane = workers.busy, workers.ids, workers.lane
            for slot in range(workers.capacity):
                fold(state, heartbeat(lane, ids[slot], slot in busy, now))

    def _arrive(self, arrival: Arrival) -> None:
        ts = arrival.ts
        facts: RequestFacts | UnparsedFacts | None = arrival.facts
        if facts is None:
            facts = arrival_facts(arrival, self.topic)
        if self.beating and ts - self.last_beat >= self.beat_s:
            self._beat(ts, arrival.epoch())
        clock = self.core_clock
        if clock is None:
            verdict = self.decide(arrival, facts)
        else:
            started = clock()
            verdict = self.decide(arrival, facts)
            self.core_s += clock() - started
        tally = self.tally
        if verdict is None:
            assert arrival.carried is not None
            tally.refuse(ts, arrival.carried.code or "unknown")
            return
        if verdict.replayed:
            return
        workers = None
        if verdict.outcome is _ACCEPTED:
            lane, task_id, granted = verdict.lane, verdict.task_id, verdict.granted
            assert lane is not None and task_id is not None and isinstance(facts, RequestFacts)
            workers = self.lanes[lane]
            tally.accept(ts, workers.name, verdict.queue_depth or 0)
            # What the GPU runs: the granted shape, or the full one with elastic step-down off.
            if granted is not None and self.elastic:
                width, height, frames = granted.width, granted.height, granted.num_frames
            else:
                width, height, frames = facts.width, facts.height, facts.num_frames
            service_s = self.times.seconds_of(task_id, facts.model, width, height, frames, facts.steps,
                                              arrival.shape_known)
            workers.fifo.append(Job(task_id, verdict.model_name, lane, ts, verdict.mode or _DEDICATED,
                                    service_s))
        else:
            tally.refuse(ts, verdict.code.value if verdict.code else "unknown")
        preempted = verdict.preempted
        if preempted is not None and preempted.task_id is not None:
            self.preempted.add(preempted.task_id)
            tally.refuse(ts, "queue_overloaded", preempted_acceptance=True)
        if workers is not None:
            self._dispatch(workers, ts)

    def decide(self, arrival: Arrival, facts: RequestFacts | UnparsedFacts | None) -> core.Verdict | None:
        """The admission core's part of an arrival."""
        return decide_arrival(self.state, arrival, self.topic, facts)

    def _dispatch(self, workers: LaneWorkers, ts: float) -> None:
        fifo = workers.fifo
        if not fifo or not workers.free:
            return
        state, tally, preempted, max_wait_s = self.state, self.tally, self.preempted, self.max_wait_s
        while fifo and workers.free:
            job = fifo.popleft()
            if job.task_id in preempted:
                continue
            if job.mode is _DEGRADED and ts - job.enqueued > max_wait_s:
                core.fold_task(state, expired_event(job, ts))
                tally.expired += 1
                continue
            job.slot = workers.take()
            core.fold_task(state, started_event(job, ts))
            tally.waits.append(ts - job.enqueued)
            tally.run(workers.name, ts, job.service_s)
            self.push(ts + job.service_s, _DONE, job)

    def _account_capacity(self) -> None:
        start, end = self.history.start, self.history.end
        for lane in RouteLane:
            cuts = sorted({start, end, *[min(end, max(start, start + t)) for g in self.scenario.gpus
                                         if g.lane is lane for t in (g.from_s, g.until_s)]})
            total = 0.0
            for a, b in itertools.pairwise(cuts):
                total += (b - a) * self.scenario.workers_at(lane, self.base[lane], a - start)
            self.tally.worker_s[lane.value] = total
