"""Digests of `framegate simulate`'s answers on synthetic scenarios (a check tool, not a test).

A change meant to make the simulator or the admission core faster must keep every answer: run
this before and after it and compare the digests (`--json FILE` keeps the full answers to diff).
The scenarios reach what the answers depend on: degrade/restore, GPU windows, elastic step-down
off, arrivals scaled up and thinned, mode changes, zero workers, recorded heartbeats (busy and
idle, so the GPU quota check sees load), authorised `critical` work preempting `background`, and
items expiring in a degraded queue. Runs in a few seconds.

Usage: .venv/bin/python bench/simulate_answers.py [--json answers.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from schemas import (
    Availability,
    GenerationTask,
    HostPressure,
    LaneEvent,
    LaneEventType,
    LaneMode,
    ModelName,
    Priority,
    RouteLane,
    TaskEvent,
    TaskStatus,
)
from schemas.settings import Settings
from streams.simulate import synthetic
from streams.simulate.history import History, TimedEvent
from streams.simulate.reconstruct import AUTHORISED_PRODUCER
from streams.simulate.run import simulate_scenario
from streams.simulate.scenario import GpuChange, ModeChange, Scenario

MIXED = (Priority.standard, Priority.background, Priority.critical, Priority.standard)


def recorded_runs(h: History) -> None:
    """Recorded `done` runs of unequal lengths before the window (what jobs sample from)."""
    for i, seconds in enumerate((0.4, 2.0, 3.3, 0.9)):
        for model in ModelName:
            at = synthetic.EPOCH - timedelta(seconds=100 + i)
            task = GenerationTask(id=f"v-{model.value}-{i}", model=model.value, type="image_to_video",
                                  status=TaskStatus.done, created_at=at, updated_at=at)
            h.task_events.append(TimedEvent(at.timestamp(), TaskEvent(
                occurred_at=at, task=task, lane=RouteLane(model.value), duration_seconds=seconds,
                artifact_path="/a.mp4")))


def recorded_heartbeats(h: History, seconds: float, workers: dict[RouteLane, int]) -> None:
    """Heartbeats every 2 s from `workers` per lane, every other worker busy."""
    t = 0.0
    while t < seconds:
        for lane, n in workers.items():
            for w in range(n):
                at = synthetic.EPOCH + timedelta(seconds=t + 0.01 * w)
                h.lane_events.append(TimedEvent(at.timestamp(), LaneEvent(
                    event_type=LaneEventType.heartbeat, lane_key=lane, worker_id=f"rec-{lane.value}-{w}",
                    availability=Availability.ready, warm=True, occurred_at=at,
                    host=HostPressure(load1=0.0, cpu_cores=8, artifact_write_ms=None, gpu_sessions_in_use=w % 2))))
        t += 2.0
    h.lane_events.sort(key=lambda e: e.ts)


def history(rate: float, seconds: float, priorities: tuple[Priority, ...],
            heartbeats: dict[RouteLane, int] | None = None) -> History:
    """Both models alternating; anisora degraded to the shared lane for the middle third."""
    lanes = [synthetic.degrade(ModelName.anisora, seconds / 3), synthetic.restore(ModelName.anisora, 2 * seconds / 3)]
    h = synthetic.history(rate, seconds, 1.5, lanes, priorities=priorities)
    recorded_runs(h)
    if heartbeats:
        recorded_heartbeats(h, seconds, heartbeats)
    return h


def critical_history(rate: float, seconds: float) -> History:
    """As `history`, with authorised `critical` requests among the others."""
    h = history(rate, seconds, (Priority.standard,))
    h.arrivals = synthetic.authorised_arrivals(rate, seconds, "c", AUTHORISED_PRODUCER)
    return h


def workers(shared: int, anisora: int, phr00t: int) -> dict[RouteLane, int]:
    return {RouteLane.shared: shared, RouteLane.anisora: anisora, RouteLane.phr00t: phr00t}


def cases() -> dict[str, tuple[History, Scenario]]:
    recorded = {RouteLane.anisora: 3, RouteLane.phr00t: 2, RouteLane.shared: 2}
    return {
        "many workers": (history(50, 60, (Priority.standard,)), Scenario(name="a", workers=workers(40, 40, 40))),
        "tight": (history(20, 90, MIXED), Scenario(name="b", workers=workers(2, 3, 4))),
        "gpu windows": (history(20, 90, MIXED), Scenario(name="c", workers={RouteLane.shared: 3, RouteLane.anisora: 4},
                        gpus=(GpuChange(lane=RouteLane.shared, delta=2, from_s=10, until_s=50),
                              GpuChange(lane=RouteLane.anisora, delta=-3, from_s=20, until_s=70),
                              GpuChange(lane=RouteLane.phr00t, delta=5, from_s=0, until_s=30)))),
        "no step-down": (history(20, 90, MIXED), Scenario(name="d", elastic=False, workers=workers(2, 5, 5))),
        "x1.7": (history(10, 90, MIXED), Scenario(name="e", arrival_scale=1.7, seed=3, workers=workers(3, 4, 4))),
        "x0.4": (history(20, 90, MIXED), Scenario(name="f", arrival_scale=0.4, seed=5, workers=workers(1, 2, 2))),
        "mode changes": (history(20, 90, MIXED), Scenario(name="g", workers=workers(2, 3, 3), lane_modes=(
            ModeChange(lane=RouteLane.phr00t, mode=LaneMode.degraded_shared, at_s=5, reason="quota"),
            ModeChange(lane=RouteLane.phr00t, mode=LaneMode.dedicated, at_s=60)))),
        "zero workers": (history(20, 30, MIXED), Scenario(name="h", workers=workers(0, 0, 1))),
        "recorded heartbeats": (history(20, 60, MIXED, recorded), Scenario(name="i")),
        "recorded and simulated": (history(20, 60, MIXED, recorded), Scenario(
            name="j", workers={RouteLane.shared: 1},
            gpus=(GpuChange(lane=RouteLane.phr00t, delta=1, from_s=5, until_s=25),))),
        "critical": (critical_history(20, 90), Scenario(name="k", workers=workers(2, 3, 3))),
        "critical x2.5": (critical_history(10, 90), Scenario(
            name="l", arrival_scale=2.5, seed=11, elastic=False, workers=workers(1, 2, 2),
            gpus=(GpuChange(lane=RouteLane.shared, delta=2, from_s=30, until_s=45),))),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", type=Path, help="write the full answers of every scenario here")
    args = parser.parse_args()
    settings = Settings()
    everything: dict[str, object] = {}
    overall = hashlib.sha256()
    for name, (h, scenario) in cases().items():
        answers = dataclasses.asdict(simulate_scenario(h, settings, scenario))
        text = json.dumps(answers, sort_keys=True)
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        overall.update(text.encode())
        everything[name] = answers
        refused = ", ".join(f"{code} {n}" for code, n in sorted(answers["refused"].items())) or "none"
        print(f"{name:<24} {digest}  accepted {answers['accepted']}, refused: {refused}; "
              f"expired {answers['expired']}, p95 wait {answers['wait_p95']}")
    print(f"all answers: {overall.hexdigest()[:16]}")
    if args.json:
        args.json.write_text(json.dumps(everything, indent=1, sort_keys=True), encoding="utf-8")


if __name__ == "__main__":
    main()
