"""Properties of the simulator on synthetic arrivals (no broker, no ClickHouse)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import ModelName, Priority, RouteLane
from schemas.settings import Settings
from streams.simulate import synthetic
from streams.simulate.answers import Answers
from streams.simulate.history import Arrival, History
from streams.simulate.run import simulate_scenario
from streams.simulate.scenario import Scenario

CAPACITY_CODES = ("queue_overloaded", "lane_unavailable", "gpu_quota_exhausted")
SETTINGS = Settings()


def history_of(gaps: list[float], priorities: list[Priority], service_s: float, model: ModelName,
               degraded: bool) -> History:
    """Arrivals `gaps` seconds apart, all of `model`; its lane degraded from the start if asked."""
    lane_events = [synthetic.degrade(model, 0.0)] if degraded else []
    h = synthetic.history(1.0, 0.0, service_s, lane_events, materialise=False)
    ts = synthetic.EPOCH.timestamp()
    for i, (gap, priority) in enumerate(zip(gaps, priorities, strict=True)):
        ts += gap
        at = datetime.fromtimestamp(ts, UTC)
        request = synthetic.template(model, f"p{i}", priority, at)
        h.arrivals.append(Arrival(ts=ts, at=at, partition=0, offset=i, request=request))
    h.end = ts + 1.0
    return h


def run(h: History, workers: dict[RouteLane, int]) -> Answers:
    return simulate_scenario(h, SETTINGS, Scenario(name="t", workers=workers))


def capacity_refusals(a: Answers) -> int:
    return sum(a.refused.get(code, 0) for code in CAPACITY_CODES)


traffic = st.integers(min_value=1, max_value=120).flatmap(lambda n: st.tuples(
    st.lists(st.floats(min_value=0.0, max_value=3.0), min_size=n, max_size=n),
    st.lists(st.sampled_from([Priority.standard, Priority.background]), min_size=n, max_size=n),
))


@settings(max_examples=15, deadline=None)
@given(traffic, st.floats(min_value=0.5, max_value=30.0), st.sampled_from(list(ModelName)), st.booleans())
def test_with_unbounded_workers_nothing_is_refused_for_capacity(
    arrivals: tuple[list[float], list[Priority]], service_s: float, model: ModelName, degraded: bool
) -> None:
    gaps, priorities = arrivals
    h = history_of(gaps, priorities, service_s, model, degraded)
    plenty = len(gaps) + 1
    a = run(h, {lane: plenty for lane in RouteLane})
    assert capacity_refusals(a) == 0, a.refused
    assert a.accepted == len(gaps)
    assert a.expired == 0
    assert a.wait_max == 0.0


@settings(max_examples=15, deadline=None)
@given(traffic, st.sampled_from(list(ModelName)))
def test_zero_workers_on_a_dedicated_lane_refuse_everything_as_lane_unavailable(
    arrivals: tuple[list[float], list[Priority]], model: ModelName
) -> None:
    gaps, priorities = arrivals
    h = history_of(gaps, priorities, 5.0, model, degraded=False)
    a = run(h, {RouteLane(model.value): 0, RouteLane.shared: 3})
    assert a.refused == {"lane_unavailable": len(gaps)}
    assert a.accepted == 0


@settings(max_examples=15, deadline=None)
@given(traffic, st.floats(min_value=0.5, max_value=20.0))
def test_more_shared_workers_never_refuse_more_for_capacity(
    arrivals: tuple[list[float], list[Priority]], service_s: float
) -> None:
    """Monotonicity, stated over all capacity refusals: zero workers refuse everything as
    `lane_unavailable` (withdrawal is checked before the queue policy), so `queue_overloaded`
    alone rises from 0 to 1 worker; from one worker up it may only fall, and so may the sum.
    Service times are equal here: with unequal ones, a different set of finished jobs changes
    the observed mean service time the wait check uses, and a refusal can move either way."""
    gaps, priorities = arrivals
    h = history_of(gaps, priorities, service_s, ModelName.anisora, degraded=True)
    previous_capacity, previous_overloaded = None, None
    for n in range(0, 5):
        a = run(h, {RouteLane.shared: n, RouteLane.anisora: 1, RouteLane.phr00t: 1})
        capacity, overloaded = capacity_refusals(a), a.refused.get("queue_overloaded", 0)
        if previous_capacity is not None:
            assert capacity <= previous_capacity, (n, a.refused)
        if previous_overloaded is not None and n >= 2:
            assert overloaded <= previous_overloaded, (n, a.refused)
        previous_capacity, previous_overloaded = capacity, overloaded
