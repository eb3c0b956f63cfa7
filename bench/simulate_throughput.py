"""`framegate simulate` speed on a synthetic day at 50 requests/s (a benchmark, not a test).

Runs the whole day (4.32 M requests; `--seconds` runs a slice of it and projects the day from
it) through the simulator on one core, prints simulated events/s, the day's CPU time (user and
system: the dedup memory holds every task of the day, so its pages are part of the cost) and the
peak memory, then where the time goes (the admission core itself vs the simulator around it).
A slice projects low: its dedup memory stays small. With the pure-Python modules it also
profiles a smaller slice (cProfile cannot see into compiled ones).
The split is taken from wall time (the core's part timed around each decision, the input per
chunk built) and also printed as shares of the CPU time, steadier when other processes share
the machine. Whether a change kept the answers: `bench/simulate_answers.py`.

Set-up: both models alternating, 1 s jobs, 40 workers per lane (`--workers`); anisora degraded to the shared
lane for the middle third of the window (so the queue policy and step-downs are on the path).

Usage: .venv/bin/python bench/simulate_throughput.py [--seconds 86400] [--rate 50] [--profile-seconds 60]
"""

from __future__ import annotations

import argparse
import cProfile
import itertools
import os
import pstats
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.recorded_figures import (
    record,  # bench/recorded_figures.py: the performance page's figures
)
from schemas import DEGRADED_QUEUE_POLICY, ModelName, RouteLane
from schemas.settings import Settings
from streams.compiled import SOURCES, built
from streams.simulate import synthetic
from streams.simulate.engine import Simulation
from streams.simulate.history import Arrival
from streams.simulate.run import service_times
from streams.simulate.scenario import Scenario

DAY_S = 86_400.0
WORKERS = 40


class TimedArrivals:
    """The synthetic arrivals, built lazily a chunk at a time (a day would not fit in memory),
    with the time spent building them (the input): timed per chunk, so the timing itself stays
    out of the simulator's share."""

    CHUNK = 4096

    def __init__(self, arrivals: Iterator[Arrival]) -> None:
        self.arrivals = arrivals
        self.seconds = 0.0

    def __iter__(self) -> Iterator[Arrival]:
        while True:
            started = time.perf_counter()
            chunk = list(itertools.islice(self.arrivals, self.CHUNK))
            self.seconds += time.perf_counter() - started
            if not chunk:
                return
            yield from chunk


def build(rate: float, seconds: float, workers: int = WORKERS) -> Simulation:
    lanes = [synthetic.degrade(ModelName.anisora, seconds / 3), synthetic.restore(ModelName.anisora, 2 * seconds / 3)]
    h = synthetic.history(rate, seconds, 1.0, lanes, materialise=False)
    scenario = Scenario(name="bench", workers={lane: workers for lane in RouteLane})
    # The core's part of each arrival (parse, `decide`, `apply`) is timed by the simulation itself.
    sim = Simulation(h, Settings(), scenario, service_times(h, 0), DEGRADED_QUEUE_POLICY,
                     arrivals=TimedArrivals(synthetic.arrivals(rate, seconds)), core_clock=time.perf_counter)
    return sim


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=DAY_S)
    parser.add_argument("--profile-seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=WORKERS,
                        help="workers per lane (the core checks every live worker per decision)")
    args = parser.parse_args()

    compiled = built()
    print(f"modules: {len(compiled)} of {len(SOURCES)} compiled (streams/compiled.py)"
          + ("" if compiled else "; pure Python"))
    sim = build(args.rate, args.seconds, args.workers)
    usage0, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    answers = sim.run()
    usage, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - wall0
    user, system = usage.ru_utime - usage0.ru_utime, usage.ru_stime - usage0.ru_stime
    cpu = user + system
    requests = int(args.rate * args.seconds)
    per_request_cpu = cpu / requests
    day_requests = int(args.rate * DAY_S)
    print(f"synthetic traffic: {requests} requests over {args.seconds:g} s at {args.rate:g}/s, "
          f"{args.workers} workers per lane "
          f"({answers.accepted} accepted, refused {answers.refused or '{}'})")
    print(f"simulated events: {sim.events} in {cpu:.2f} s CPU ({user:.2f} user + {system:.2f} system; "
          f"{wall:.2f} s wall): {sim.events / cpu:,.0f} events/s, {requests / cpu:,.0f} requests/s; "
          f"peak memory {usage.ru_maxrss / 1024:,.0f} MiB")
    day = per_request_cpu * day_requests
    label = "measured" if args.seconds >= DAY_S else "projected from this slice"
    print(f"a day at {args.rate:g} req/s ({day_requests:,} requests): {day:,.0f} s CPU on one core ({label}); "
          f"target 60 s: {'met' if day <= 60 else 'NOT met'}")
    record(f"simulate a day at {args.rate:g} req/s ({label})", day, "s CPU", "<= 60 s")
    assert isinstance(sim.arrivals, TimedArrivals)
    made, core = sim.arrivals.seconds, sim.core_s
    rest = wall - made - core
    print(f"split of the wall time, per request: admission core (parse, decide, apply) "
          f"{1e6 * core / requests:,.0f} us ({100 * core / wall:.0f}%), simulator (event queue, workers, "
          f"heartbeats and the core's folds of them, tallies) {1e6 * rest / requests:,.0f} us "
          f"({100 * rest / wall:.0f}%), building the synthetic requests {1e6 * made / requests:,.0f} us "
          f"({100 * made / wall:.0f}%)")
    scale = 1e6 * cpu / wall / requests
    print(f"  the same shares of the CPU time (steadier on a busy machine), per request: core {core * scale:,.1f} us, "
          f"simulator {rest * scale:,.1f} us, synthetic requests {made * scale:,.1f} us")
    record("admission core per decision in the simulator (decide + apply, CPU share)", core * scale, "us",
           "<= 10 us")
    if core > 0:
        print(f"  with the simulator's part at zero, a day would take {core / requests * day_requests * cpu / wall:,.0f} s CPU "
              "(the admission core alone)")

    if compiled:
        print("profile split: skipped (cProfile cannot see into compiled modules; "
              "`python -m streams.compiled clean` runs the pure-Python ones)")
        return
    prof = build(args.rate, args.profile_seconds, args.workers)
    profiler = cProfile.Profile()
    profiler.enable()
    prof.run()
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    cum = {f"{Path(k[0]).parent.name}/{Path(k[0]).name}:{k[2]}": v[3]
           for k, v in stats.stats.items()}  # type: ignore[attr-defined]

    def share(key: str) -> str:
        return f"{100 * cum.get(key, 0.0) / total:.0f}%" if total else "-"

    print(f"profile split ({args.profile_seconds:g} s slice, under cProfile; shares of all time):")
    print(f"  admission core decide():            {share('core/decide.py:decide')}")
    print(f"    of which check_withdrawal():      {share('core/withdrawal.py:check_withdrawal')} "
          f"(every live worker checked, {args.workers} per lane)")
    print(f"  admission core apply():             {share('core/decide.py:apply')}")
    print(f"  fold_task (worker events):          {share('core/folds.py:fold_task')}")
    print(f"  fold_heartbeat (heartbeats):        {share('core/folds.py:fold_heartbeat')}")
    print(f"  synthetic arrivals (request facts): {share('simulate/synthetic.py:arrivals')}")
    own = sorted(((v[2], k) for k, v in stats.stats.items()  # type: ignore[attr-defined]
                  if f"{os.sep}simulate{os.sep}" in k[0] and not k[0].endswith("synthetic.py")), reverse=True)
    print("  the simulator's own code, by own time (folds and the core excluded; core.py is timed as the core):")
    for tottime, (path, _, name) in own[:8]:
        print(f"    {Path(path).name + ':' + name:<34} {100 * tottime / total:.1f}%")


if __name__ == "__main__":
    main()
