"""The worker search finds the same count with one job or several, and the parallel probes run
real simulations in worker processes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import ModelName, RouteLane
from schemas.settings import Settings
from streams.simulate import synthetic
from streams.simulate.answers import Answers
from streams.simulate.run import simulate
from streams.simulate.scenario import Scenario
from streams.simulate.search import candidates, search_workers

BASE = Scenario(name="base", workers={lane: 1 for lane in RouteLane})


def fake_probe(threshold: int, seen: list[int]):  # type: ignore[no-untyped-def]
    """Refusals that stop at `threshold` workers (and more workers never refuse more)."""
    def probe(scenarios: list[Scenario]) -> list[Answers]:
        out = []
        for s in scenarios:
            n = s.workers[RouteLane.shared]
            seen.append(n)
            out.append(Answers(name=s.name, accepted=0, refused={"queue_overloaded": max(0, threshold - n)},
                               expired=0, wait_p50=None, wait_p95=None, wait_max=None, peak_depth={},
                               busy_fraction={}, bucket_s=1.0, refused_series=[], depth_series={}))
        return out
    return probe


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 70), st.integers(1, 64), st.integers(1, 8))
def test_every_job_count_finds_the_fewest_workers_that_meet_the_target(threshold: int, upper: int,
                                                                        jobs: int) -> None:
    one: list[int] = []
    many: list[int] = []
    serial = search_workers(BASE, RouteLane.shared, fake_probe(threshold, one), 100, upper=upper)
    parallel = search_workers(BASE, RouteLane.shared, fake_probe(threshold, many), 100, upper=upper, jobs=jobs)
    expected = threshold if threshold <= upper else None
    assert serial.workers == parallel.workers == expected
    assert len(set(many)) == len(many), "a count is never probed twice"


def test_one_job_is_plain_bisection() -> None:
    assert candidates(0, 64, 1) == [32]
    seen: list[int] = []
    search_workers(BASE, RouteLane.shared, fake_probe(21, seen), 100, upper=64)
    assert seen == [64, 32, 16, 24, 20, 22, 21]


def test_a_parallel_search_of_real_simulations_answers_as_a_serial_one() -> None:
    h = synthetic.history(20.0, 3.0, 1.0, [synthetic.degrade(ModelName.anisora, 0.0)], models=(ModelName.anisora,))
    serial = simulate(h, Settings(), [BASE], search_lanes=(RouteLane.shared,), upper=32, jobs=1)
    parallel = simulate(h, Settings(), [BASE], search_lanes=(RouteLane.shared,), upper=32, jobs=2)
    assert serial.searches[0].workers is not None
    assert parallel.searches[0].workers == serial.searches[0].workers
    assert parallel.searches[0].probes.items() >= {serial.searches[0].workers: 0}.items()


def test_more_jobs_probe_the_upper_bound_only_when_no_smaller_count_passes() -> None:
    passes_below: list[int] = []
    search_workers(BASE, RouteLane.shared, fake_probe(20, passes_below), 100, upper=64, jobs=2)
    assert 64 not in passes_below and passes_below[:2] == [21, 42]
    fails_below: list[int] = []
    found = search_workers(BASE, RouteLane.shared, fake_probe(60, fails_below), 100, upper=64, jobs=2)
    assert found.workers == 60 and 64 in fails_below
