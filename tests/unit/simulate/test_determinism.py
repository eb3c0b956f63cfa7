"""The same history and scenario give the same answers: within a process, and across processes
whose string hashing (set and dict iteration order) differs."""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import subprocess
import sys
from pathlib import Path

from schemas import ModelName, RouteLane
from schemas.settings import Settings
from streams.simulate import synthetic
from streams.simulate.core import read_once
from streams.simulate.history import History
from streams.simulate.reconstruct import AUTHORISED_PRODUCER
from streams.simulate.run import simulate_scenario
from streams.simulate.scenario import GpuChange, Scenario

ROOT = Path(__file__).resolve().parents[3]
#: Priorities in turn; `critical` from an authorised producer, so full queues see preemptions.


def busy_history(rate: float = 10.0, seconds: float = 90.0) -> History:
    """Both models alternating, anisora degraded to the shared lane for the middle third."""
    h = synthetic.history(rate, seconds, 1.5, [synthetic.degrade(ModelName.anisora, seconds / 3),
                                               synthetic.restore(ModelName.anisora, 2 * seconds / 3)],
                          materialise=False)
    h.arrivals = synthetic.authorised_arrivals(rate, seconds, "d", AUTHORISED_PRODUCER)
    return h


SCENARIO = Scenario(name="busy", arrival_scale=1.7, seed=11, elastic=False,
                    workers={RouteLane.shared: 1, RouteLane.anisora: 2, RouteLane.phr00t: 2},
                    gpus=(GpuChange(lane=RouteLane.shared, delta=2, from_s=20, until_s=35),
                          GpuChange(lane=RouteLane.phr00t, delta=-1, from_s=30, until_s=50)))


def answers_document() -> str:
    answers = simulate_scenario(busy_history(), Settings(), SCENARIO)
    return json.dumps(dataclasses.asdict(answers), sort_keys=True)


def test_the_same_input_gives_the_same_answers() -> None:
    first = answers_document()
    assert answers_document() == first
    answers = json.loads(first)
    # The scenario reaches every path the answers depend on, so equality says something.
    assert answers["accepted"] > 0 and answers["expired"] > 0
    assert answers["refused"].get("queue_overloaded", 0) > 0 and answers["wait_max"] > 0


def test_answers_do_not_depend_on_hash_order() -> None:
    seed = "1" if os.environ.get("PYTHONHASHSEED") != "1" else "2"
    env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
    code = "from tests.unit.simulate.test_determinism import answers_document; print(answers_document())"
    other = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                           check=True, timeout=120)
    assert other.stdout.strip() == answers_document()


def test_a_run_leaves_the_garbage_collector_as_it_found_it() -> None:
    h = busy_history(seconds=10.0)
    was = gc.isenabled()
    try:
        for enabled in (True, False):
            (gc.enable if enabled else gc.disable)()
            simulate_scenario(h, Settings(), SCENARIO)
            assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_a_history_read_once_answers_as_one_read_in_every_run() -> None:
    h = busy_history(seconds=30.0)
    # As the Kafka input holds them: the record's bytes beside the decoded request.
    h.arrivals = [dataclasses.replace(a, payload=a.request.to_wire()) if a.request is not None else a
                  for a in h.arrivals]
    topic = Settings().topics.tasks_requested
    once = read_once(h, topic)
    assert all(a.facts is not None for a in once.arrivals) and all(a.facts is None for a in h.arrivals)
    assert simulate_scenario(once, Settings(), SCENARIO) == simulate_scenario(h, Settings(), SCENARIO)
