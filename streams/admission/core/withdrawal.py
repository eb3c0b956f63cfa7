"""Withdrawal policy: hard 503s before any GPU work, from worker heartbeats on `events.lane`.

A lane with no heartbeat at all (`missing_signal`) or only stale ones (`stale_signal`) is
unknown and fails closed as `lane_unavailable`. A lane can serve when at least one live worker
passes every check; when none does, the refusal names the check they failed. `background` is
throttled first: it is refused as soon as any serving worker of the lane fails a check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from schemas.enums import Availability, LaneMode, Priority, RejectionCode, RouteLane
from streams.admission.core.clock import HALF_US, longer_than
from streams.admission.core.config import AdmissionConfig
from streams.admission.core.priority import throttled_first
from streams.admission.core.refusal import Refusal
from streams.admission.core.routing import Route
from streams.admission.core.state import (
    AdmissionState,
    LaneHealth,
    LaneState,
    WorkerCheck,
    WorkerSignal,
)

#: `until` of a memo no live worker bounds.
FOREVER = math.inf

_UNAVAILABLE, _COLD = Availability.unavailable, Availability.cold
_IO_SATURATION = RejectionCode.io_saturation
_CPU_STARVATION = RejectionCode.cpu_starvation
_GPU_QUOTA_EXHAUSTED = RejectionCode.gpu_quota_exhausted
_SHARED = RouteLane.shared
_DEDICATED = LaneMode.dedicated
_LANE_UNAVAILABLE = RejectionCode.lane_unavailable


@dataclass(slots=True, init=False)  # a written __init__ compiles (streams/compiled.py)
class Capacity:
    """The lane can take the item: how many workers serve it and the cold-start allowance."""

    workers: int
    time_to_ready_s: float

    def __init__(self, workers: int, time_to_ready_s: float) -> None:
        self.workers = workers
        self.time_to_ready_s = time_to_ready_s


def cpu_starved(worker: WorkerSignal, config: AdmissionConfig, now: float) -> bool:
    since = worker.cpu_over_since
    return since is not None and longer_than(now, since, config.cpu_starvation_s)


def worker_problem(worker: WorkerSignal, route: Route, config: AdmissionConfig, now: float,
                   shared_full: bool) -> RejectionCode | None:
    if worker.io_saturated(config.io_saturation_ms):
        return _IO_SATURATION
    if cpu_starved(worker, config, now):
        return _CPU_STARVATION
    # The shared lane is itself the fallback: its quota is governed by the queue policy. Software
    # fallback is unavailable when the worker disabled it or the shared queue is full.
    if route.lane is not _SHARED and worker.quota_met and (
            not worker.beat.shared_fallback_enabled or shared_full):
        return _GPU_QUOTA_EXHAUSTED
    return None


def live_workers(lane: LaneState, now: float, stale_s: float) -> list[WorkerSignal]:
    """Workers whose last heartbeat is at most `stale_s` old at `now` (sorted for determinism)."""
    return [w for _, w in sorted(lane.workers.items()) if not longer_than(now, w.seen_at, stale_s)]


def lane_health(config: AdmissionConfig, lane: LaneState, route: Route, now: float,
                shared_full: bool) -> LaneHealth:
    """Run every check on every live worker of `lane` at `now`, and say how long the answer holds."""
    live = live_workers(lane, now, config.heartbeat_stale_s)
    stale = config.heartbeat_stale_s
    # A run over the CPU threshold starves strictly after `cpu_starvation_s`: the memo ends a
    # microsecond early rather than on a rounded boundary.
    starving = math.floor(config.cpu_starvation_s * 1e6) / 1e6
    until = min((round(w.seen_at + stale, 6) for w in live), default=FOREVER)
    checks = []
    problems = []
    for w in live:
        serving = w.availability is not _UNAVAILABLE
        problem = worker_problem(w, route, config, now, shared_full) if serving else None
        checks.append(WorkerCheck(w.worker_id, serving, problem))
        if not serving:
            continue
        problems.append(problem)
        if w.cpu_over_since is not None and problem is not _CPU_STARVATION:
            until = min(until, round(w.cpu_over_since + starving, 6))
    healthy = [c for c in checks if c.serving and c.problem is None]
    by_id = {w.worker_id: w for w in live}
    return LaneHealth(
        since=now, until=until, shared_full=shared_full,
        live=frozenset(by_id),
        serving=len(problems), healthy=len(healthy),
        first_problem=next((p for p in problems if p is not None), None),
        cold=all(by_id[c.worker_id].availability is _COLD or not by_id[c.worker_id].warm
                 for c in healthy),
        checks=tuple(checks),
    )


def health_at(state: AdmissionState, lane: LaneState, route: Route, now: float) -> LaneHealth:
    """The lane's `LaneHealth` at `now`: the memo while it holds, else found afresh (and kept).

    The memo is the one thing `decide` writes, and it never changes an answer
    (tests/unit/admission/test_lane_health.py).
    """
    shared = state.queues[_SHARED]
    shared_full = len(shared.items) >= shared.policy.max_depth
    health = lane.health
    if (health is None or health.shared_full is not shared_full
            or not (health.since <= now and health.until - now > HALF_US)):  # now strictly before until
        health = lane.health = lane_health(state.config, lane, route, now, shared_full)
    return health


_TITLES = {
    RejectionCode.lane_unavailable: "Lane unavailable",
    RejectionCode.io_saturation: "Artifact storage saturated",
    RejectionCode.cpu_starvation: "Worker CPU starved",
    RejectionCode.gpu_quota_exhausted: "GPU session quota exhausted",
}


def check_withdrawal(state: AdmissionState, route: Route, now: float, priority: Priority,
                     ) -> tuple[Refusal | Capacity, LaneHealth | None]:
    """The lane's capacity for an item of `priority`, or the refusal; with the checks read."""
    cfg = state.config
    lane = state.lanes[route.lane]
    # The lane's name (an enum's `.value`) and `lane.availability` are read only where needed:
    # this runs once per request.
    if route.mode is _DEDICATED and lane.known and lane.availability_set is _UNAVAILABLE:
        return Refusal(_LANE_UNAVAILABLE, _TITLES[_LANE_UNAVAILABLE],
                       f"lane {route.lane.value} is marked unavailable"), None
    if not lane.workers:
        return Refusal(_LANE_UNAVAILABLE, _TITLES[_LANE_UNAVAILABLE],
                       f"no heartbeat ever received from lane {route.lane.value}; failing closed",
                       reason="missing_signal"), None
    health = health_at(state, lane, route, now)
    # The common answer first: healthy workers, and `priority` not throttled by the failing ones.
    if health.healthy and (health.healthy == health.serving or not throttled_first(priority)):
        cold = (lane.known and lane.availability_set is _COLD) or health.cold
        return Capacity(workers=health.healthy, time_to_ready_s=cfg.cold_start_s if cold else 0.0), health
    name = route.lane.value
    if not health.live:
        return Refusal(_LANE_UNAVAILABLE, _TITLES[_LANE_UNAVAILABLE],
                       f"last heartbeat from lane {name} is older than {cfg.heartbeat_stale_s:g}s; "
                       "failing closed", reason="stale_signal"), health
    if not health.serving:
        return Refusal(_LANE_UNAVAILABLE, _TITLES[_LANE_UNAVAILABLE],
                       f"every live worker of lane {name} reports unavailable"), health
    # Serving workers, none healthy, or `priority` is throttled first while some fail a check.
    code = health.first_problem
    assert code is not None  # a serving worker failed a check
    detail = {
        _IO_SATURATION: f"artifact write latency above {cfg.io_saturation_ms:g} ms on lane {name}",
        _CPU_STARVATION: f"load1 above cores x {cfg.cpu_starvation_factor:g} for more "
        f"than {cfg.cpu_starvation_s:g}s on lane {name}",
        _GPU_QUOTA_EXHAUSTED: f"GPU sessions at quota on lane {name} and the shared "
        "fallback is disabled or saturated",
    }.get(code, f"lane {name} cannot serve")
    if health.healthy:
        detail += (f"; {priority.value} work is throttled first ({health.serving - health.healthy} of "
                   f"{health.serving} live workers fail a check)")
    return Refusal(code, _TITLES.get(code, "Lane cannot serve"), detail), health
