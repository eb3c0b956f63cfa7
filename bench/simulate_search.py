"""`framegate simulate --search` wall time, one job against `--jobs N` (a benchmark, not a test).

Searches the fewest shared-lane workers for a synthetic degraded window (every probe is a whole
simulation of it), first with one job (plain bisection), then with `--jobs` worker processes
(started inside the timing), and prints both wall times of the search alone, the probes each ran
and their ratio. Both must find the same count. The default window (an hour of traffic) gives
each probe seconds of work: on a window whose probes take a fraction of a second, starting the
worker processes weighs on the ratio as much as the probes do.

Usage: .venv/bin/python bench/simulate_search.py [--seconds 3600] [--rate 20] [--upper 64] [--jobs 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.recorded_figures import record
from schemas import ModelName, RouteLane
from schemas.settings import Settings
from streams.simulate import synthetic
from streams.simulate.run import simulate_scenario
from streams.simulate.scenario import Scenario
from streams.simulate.search import parallel, search_workers


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=3600.0)
    parser.add_argument("--upper", type=int, default=64)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    history = synthetic.history(args.rate, args.seconds, 1.0, [synthetic.degrade(ModelName.anisora, 0.0)],
                                models=(ModelName.anisora,))
    base = Scenario(name="base", workers={lane: 1 for lane in RouteLane})
    settings = Settings()
    requests = len(history.arrivals)
    walls, found = {}, {}
    for jobs in (1, args.jobs):
        started = time.perf_counter()
        with parallel(lambda s: simulate_scenario(history, settings, s), jobs) as probe:
            found[jobs] = search_workers(base, RouteLane.shared, probe, requests, upper=args.upper, jobs=jobs)
        walls[jobs] = time.perf_counter() - started
        print(f"jobs={jobs}: {found[jobs].line()} in {walls[jobs]:.2f} s wall, "
              f"{len(found[jobs].probes)} probes {sorted(found[jobs].probes)}")
    assert found[1].workers == found[args.jobs].workers, "the parallel search must find the serial count"
    ratio = walls[args.jobs] / walls[1]
    print(f"search wall time, {args.jobs} jobs / 1 job: {ratio:.2f} (target <= 0.6 on 2 cores)")
    record(f"simulate --search wall time, {args.jobs} jobs / 1 job", ratio, "x", "<= 0.6 on 2 cores")


if __name__ == "__main__":
    main()
