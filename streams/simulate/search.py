"""Search mode: the fewest workers on a lane for which `queue_overloaded` stays at or below a rate.

The search assumes fewer refusals with more workers (see tests/unit/simulate for where that
holds): it keeps an interval [lo, hi] whose `hi` meets the target, and each round probes `jobs`
worker counts that split it evenly, as one simulation each, side by side in `jobs` worker
processes. With one job that is plain bisection; with more, the interval shrinks by `jobs + 1`
per round for the same wall time, and the upper bound is probed only if no count below it
passes. The candidates of a round depend only on the interval (and on whether its `hi` was
probed), so a search finds the same count whatever runs the probes.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

from schemas import RouteLane
from streams.simulate.answers import Answers
from streams.simulate.scenario import Scenario

#: Runs a batch of scenarios (side by side or one after another) and returns their answers in order.
Prober = Callable[[list[Scenario]], list[Answers]]


@dataclass(frozen=True)
class SearchResult:
    lane: RouteLane
    max_rate: float
    #: None: not reached even at `upper` workers.
    workers: int | None
    upper: int
    probes: dict[int, int] = field(default_factory=dict)

    def line(self) -> str:
        target = "zero" if self.max_rate == 0 else f"at most {100 * self.max_rate:g}% of requests"
        if self.workers is None:
            return (f"search {self.lane.value}: queue_overloaded not {target} even with {self.upper} workers")
        return f"search {self.lane.value}: {self.workers} worker(s) keep queue_overloaded {target}"

    def to_json(self) -> dict[str, object]:
        return {"lane": self.lane.value, "max_rate": self.max_rate, "workers": self.workers,
                "upper": self.upper, "probes": {str(k): v for k, v in sorted(self.probes.items())}}


def overloaded(a: Answers) -> int:
    return a.refused.get("queue_overloaded", 0)


def candidates(lo: int, hi: int, jobs: int) -> list[int]:
    """Up to `jobs` counts in [lo, hi) splitting it into `jobs + 1` even parts (bisection for 1)."""
    picked = {lo + (hi - lo) * i // (jobs + 1) for i in range(1, jobs + 1)}
    return sorted(c for c in picked if lo <= c < hi) or [lo + (hi - lo) // 2]


def search_workers(base: Scenario, lane: RouteLane, probe: Prober, requests: int,
                   max_rate: float = 0.0, upper: int = 64, jobs: int = 1) -> SearchResult:
    probes: dict[int, int] = {}

    def run(counts: list[int]) -> None:
        todo = [n for n in counts if n not in probes]
        scenarios = [base.with_workers(lane, n, f"{lane.value}={n}") for n in todo]
        for n, answer in zip(todo, probe(scenarios), strict=True):
            probes[n] = overloaded(answer)

    def ok(n: int) -> bool:
        return probes[n] <= max_rate * requests

    # One job checks the upper bound first, as bisection does. More jobs split the whole range in
    # their first round: a passing count below `upper` means `upper` passes too (the assumption
    # above), so `upper` itself is probed only once every count probed so far failed.
    if jobs == 1:
        run([upper])
    lo, hi = 0, upper  # the answer, if any, is in [lo, hi]
    while True:
        known = [n for n in sorted(probes) if lo <= n <= hi]
        passing = [n for n in known if ok(n)]
        if passing:
            hi = passing[0]
        failing = [n for n in known if n < hi and not ok(n)]
        if failing:
            lo = failing[-1] + 1
        if upper in probes and not ok(upper):
            return SearchResult(lane, max_rate, None, upper, probes)
        checked = hi in probes
        if checked and lo == hi:
            return SearchResult(lane, max_rate, hi, upper, probes)
        if checked or not probes:
            run(candidates(lo, hi, jobs))
        else:
            run(sorted({hi, *(candidates(lo, hi, jobs - 1) if lo < hi else ())}))


def serial(run: Callable[[Scenario], Answers]) -> Prober:
    return lambda scenarios: [run(s) for s in scenarios]


#: What a worker process runs: set before the pool forks, so the children inherit it (and the
#: history it closes over) without pickling.
_RUN: Callable[[Scenario], Answers] | None = None


def _run_in_child(scenario: Scenario) -> Answers:
    assert _RUN is not None
    return _RUN(scenario)


@contextmanager
def parallel(run: Callable[[Scenario], Answers], jobs: int) -> Iterator[Prober]:
    """A prober running each batch in `jobs` forked worker processes (serial for one job)."""
    global _RUN
    if jobs <= 1:
        yield serial(run)
        return
    _RUN = run
    try:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("fork")) as pool:
            yield lambda scenarios: list(pool.map(_run_in_child, scenarios))
    finally:
        _RUN = None
