"""One `framegate simulate` run: fidelity check, the recorded set-up as modelled, each scenario,
and the optional worker search; everything the outputs need in one `Report`."""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas import (
    DEGRADED_QUEUE_POLICY,
    DecisionOutcome,
    DegradedQueuePolicy,
    LaneMode,
    RouteLane,
)
from schemas.settings import Settings
from streams.admission.core.elastic import step_down
from streams.admission.core.priority import may_degrade
from streams.admission.ingest import request_facts
from streams.simulate.answers import Answers, recorded_answers
from streams.simulate.core import read_once
from streams.simulate.engine import Simulation, recorded_workers
from streams.simulate.fidelity import Fidelity, check
from streams.simulate.history import History
from streams.simulate.replay import replay_recorded
from streams.simulate.scenario import RECORDED, Scenario
from streams.simulate.search import SearchResult, parallel, search_workers
from streams.simulate.service_times import JobShape, ServiceTimes, Shape, recorded_service_times
from streams.simulate.whatif_policy import label


@dataclass
class Report:
    origin: str
    start: float
    end: float
    requests: int
    fidelity: Fidelity
    recorded: Answers
    #: The recorded set-up run with simulated workers (how close the worker model comes).
    modelled: Answers
    scenarios: list[Answers] = field(default_factory=list)
    searches: list[SearchResult] = field(default_factory=list)
    outside_contract: str | None = None
    #: The queue depth limit the scenarios ran under (the contract's unless --what-if-queue-policy).
    max_depth: int = DEGRADED_QUEUE_POLICY.max_depth


def granted_requests(history: History) -> dict[str, JobShape]:
    """The shape each recorded acceptance ran with (its step-down applied again)."""
    out: dict[str, JobShape] = {}
    for arrival in history.arrivals:
        decision = history.decisions.get((arrival.partition, arrival.offset))
        request = arrival.request
        if request is None or decision is None or decision.outcome != DecisionOutcome.accepted.value:
            continue
        facts = request_facts(request, None, arrival.at)
        degraded = decision.lane_mode == LaneMode.degraded_shared.value and may_degrade(request.priority)
        granted = step_down(facts)[0] if degraded else None
        out[request.task_id] = facts if granted is None else Shape(
            facts.model, granted.width, granted.height, granted.num_frames, facts.steps)
    return out


def service_times(history: History, seed: int, granted: dict[str, JobShape] | None = None) -> ServiceTimes:
    """`granted`: `granted_requests(history)`, when the caller already has it."""
    return recorded_service_times(history, granted_requests(history) if granted is None else granted, seed)


def simulate_scenario(history: History, settings: Settings, scenario: Scenario,
                      policy: DegradedQueuePolicy = DEGRADED_QUEUE_POLICY,
                      granted: dict[str, JobShape] | None = None) -> Answers:
    times = service_times(history, scenario.seed, granted)
    return Simulation(history, settings, scenario, times, policy, outside_contract=label(policy)).run()


def simulate(history: History, settings: Settings, scenarios: list[Scenario],
             policy: DegradedQueuePolicy = DEGRADED_QUEUE_POLICY,
             search_lanes: tuple[RouteLane, ...] = (), max_rate: float = 0.0, upper: int = 64,
             jobs: int = 1) -> Report:
    """The fidelity replay always runs under the contract's policy: it checks the record.

    `jobs`: worker processes for the search's probes (each a whole simulation).
    """
    fidelity = check(history, replay_recorded(history, settings))
    workers = {lane.value: n for lane, n in recorded_workers(history).items()}
    # Every run below decides the same requests and samples the same service times: both are
    # read from the history once (before any search process forks, so the probes share them).
    granted = granted_requests(history)
    runs = read_once(history, settings.topics.tasks_requested)
    report = Report(
        origin=history.origin, start=history.start, end=history.end, requests=len(history.arrivals),
        fidelity=fidelity, recorded=recorded_answers(history, workers),
        modelled=simulate_scenario(runs, settings, RECORDED, granted=granted),
        outside_contract=label(policy), max_depth=policy.max_depth,
    )
    for scenario in scenarios:
        report.scenarios.append(simulate_scenario(runs, settings, scenario, policy, granted))
    base = scenarios[0] if scenarios else RECORDED
    if search_lanes:
        with parallel(lambda s: simulate_scenario(runs, settings, s, policy, granted), jobs) as probe:
            for lane in search_lanes:
                report.searches.append(search_workers(base, lane, probe, len(history.arrivals), max_rate,
                                                      upper, jobs))
    return report
