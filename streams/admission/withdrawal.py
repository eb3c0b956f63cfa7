"""Withdrawal policy: hard 503s before any GPU work, from worker heartbeats on `events.lane`.

A lane with no heartbeat at all (`missing_signal`) or only stale ones (`stale_signal`) is
unknown and fails closed as `lane_unavailable`. A lane can serve when at least one live worker
passes every check; when none does, the refusal names the check they failed. `background` is
throttled first: it is refused as soon as any serving worker of the lane fails a check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from schemas import Availability, LaneMode, Priority, RejectionCode, RouteLane
from streams.admission.priority import throttled_first
from streams.admission.refusal import Refusal
from streams.admission.routing import Route
from streams.admission.state import AdmissionState, LaneHealth, LaneState, WorkerSignal


@dataclass(frozen=True)
class Capacity:
    """The lane can take the item: how many workers serve it and the cold-start allowance."""

    workers: int
    time_to_ready_s: float


def cpu_starved(worker: WorkerSignal, state: AdmissionState, now: datetime) -> bool:
    since = worker.cpu_over_since
    return since is not None and (now - since).total_seconds() > state.config.cpu_starvation_s


def worker_problem(worker: WorkerSignal, route: Route, state: AdmissionState, now: datetime,
                   shared_full: bool) -> RejectionCode | None:
    if worker.io_saturated(state.config.io_saturation_ms):
        return RejectionCode.io_saturation
    if cpu_starved(worker, state, now):
        return RejectionCode.cpu_starvation
    # The shared lane is itself the fallback: its quota is governed by the queue policy. Software
    # fallback is unavailable when the worker disabled it or the shared queue is full.
    if route.lane is not RouteLane.shared and worker.quota_met and (
            not worker.host.shared_fallback_enabled or shared_full):
        return RejectionCode.gpu_quota_exhausted
    return None


def lane_health(state: AdmissionState, lane: LaneState, route: Route, now: datetime,
                shared_full: bool) -> LaneHealth:
    """Run every check on every live worker of `lane` at `now`, and say how long the answer holds."""
    cfg = state.config
    live = lane.live_workers(now, cfg.heartbeat_stale_s)
    stale = timedelta(seconds=cfg.heartbeat_stale_s)
    # A run over the CPU threshold starves strictly after `cpu_starvation_s`: the memo ends a
    # microsecond early rather than on a rounded boundary.
    starving = timedelta(microseconds=math.floor(cfg.cpu_starvation_s * 1e6))
    until = min((w.seen_at + stale for w in live), default=datetime.max.replace(tzinfo=now.tzinfo))
    serving = [w for w in live if w.availability is not Availability.unavailable]
    problems = [worker_problem(w, route, state, now, shared_full) for w in serving]
    for w, problem in zip(serving, problems, strict=True):
        if w.cpu_over_since is not None and problem is not RejectionCode.cpu_starvation:
            until = min(until, w.cpu_over_since + starving)
    healthy = [w for w, p in zip(serving, problems, strict=True) if p is None]
    return LaneHealth(
        since=now, until=until, shared_full=shared_full,
        live=frozenset(w.worker_id for w in live),
        serving=len(serving), healthy=len(healthy),
        first_problem=next((p for p in problems if p is not None), None),
        cold=all(w.availability is Availability.cold or not w.warm for w in healthy),
    )


def health_at(state: AdmissionState, lane: LaneState, route: Route, now: datetime) -> LaneHealth:
    """The lane's `LaneHealth` at `now`: the memo while it holds, else found afresh (and kept).

    Heartbeats arrive far more often than a worker's standing changes, so checking every live
    worker on every decision would repeat the same answer; the memo is the one thing `decide`
    writes, and it never changes an answer (tests/unit/admission/test_lane_health.py).
    """
    shared = state.queue(RouteLane.shared)
    shared_full = shared.depth >= shared.policy.max_depth
    health = lane.health
    if health is None or health.shared_full is not shared_full or not health.since <= now < health.until:
        health = lane.health = lane_health(state, lane, route, now, shared_full)
    return health


_TITLES = {
    RejectionCode.lane_unavailable: "Lane unavailable",
    RejectionCode.io_saturation: "Artifact storage saturated",
    RejectionCode.cpu_starvation: "Worker CPU starved",
    RejectionCode.gpu_quota_exhausted: "GPU session quota exhausted",
}


def check_withdrawal(state: AdmissionState, route: Route, now: datetime, priority: Priority) -> Refusal | Capacity:
    cfg = state.config
    lane = state.lane(route.lane)
    name = route.lane.value
    if route.mode is LaneMode.dedicated and lane.availability is Availability.unavailable:
        return Refusal(RejectionCode.lane_unavailable, _TITLES[RejectionCode.lane_unavailable],
                       f"lane {name} is marked unavailable")
    if not lane.workers:
        return Refusal(RejectionCode.lane_unavailable, _TITLES[RejectionCode.lane_unavailable],
                       f"no heartbeat ever received from lane {name}; failing closed",
                       reason="missing_signal")
    health = health_at(state, lane, route, now)
    if not health.live:
        return Refusal(RejectionCode.lane_unavailable, _TITLES[RejectionCode.lane_unavailable],
                       f"last heartbeat from lane {name} is older than {cfg.heartbeat_stale_s:g}s; "
                       "failing closed", reason="stale_signal")
    if not health.serving:
        return Refusal(RejectionCode.lane_unavailable, _TITLES[RejectionCode.lane_unavailable],
                       f"every live worker of lane {name} reports unavailable")
    throttled = throttled_first(priority) and health.healthy < health.serving
    if not health.healthy or throttled:
        code = health.first_problem
        assert code is not None  # a serving worker failed a check
        detail = {
            RejectionCode.io_saturation: f"artifact write latency above {cfg.io_saturation_ms:g} ms on lane {name}",
            RejectionCode.cpu_starvation: f"load1 above cores x {cfg.cpu_starvation_factor:g} for more "
            f"than {cfg.cpu_starvation_s:g}s on lane {name}",
            RejectionCode.gpu_quota_exhausted: f"GPU sessions at quota on lane {name} and the shared "
            "fallback is disabled or saturated",
        }.get(code, f"lane {name} cannot serve")
        if health.healthy:
            detail += (f"; {priority.value} work is throttled first ({health.serving - health.healthy} of "
                       f"{health.serving} live workers fail a check)")
        return Refusal(code, _TITLES.get(code, "Lane cannot serve"), detail)
    cold = lane.availability is Availability.cold or health.cold
    return Capacity(workers=health.healthy, time_to_ready_s=cfg.cold_start_s if cold else 0.0)
