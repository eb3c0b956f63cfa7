"""Search mode: the fewest workers on a lane for which `queue_overloaded` stays at or below a rate.

Bisection assumes fewer refusals with more workers (see tests/unit/simulate for where that holds);
every probe is a full simulation, so each answer also carries the probes it took.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from schemas import RouteLane
from streams.simulate.answers import Answers
from streams.simulate.scenario import Scenario


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


def search_workers(base: Scenario, lane: RouteLane, run: Callable[[Scenario], Answers], requests: int,
                   max_rate: float = 0.0, upper: int = 64) -> SearchResult:
    probes: dict[int, int] = {}

    def ok(n: int) -> bool:
        if n not in probes:
            probes[n] = overloaded(run(base.with_workers(lane, n, f"{lane.value}={n}")))
        return probes[n] <= max_rate * requests

    if not ok(upper):
        return SearchResult(lane, max_rate, None, upper, probes)
    lo, hi = 0, upper  # invariant: ok(hi); the answer is in [lo, hi]
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return SearchResult(lane, max_rate, hi, upper, probes)
