"""Withdrawal policy: hard 503s before any GPU work, from worker heartbeats on `events.lane`.

A lane with no heartbeat at all (`missing_signal`) or only stale ones (`stale_signal`) is
unknown and fails closed as `lane_unavailable`. A lane can serve when at least one live worker
passes every check; when none does, the refusal names the check they failed. `background` is
throttled first: it is refused as soon as any serving worker of the lane fails a check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from schemas import Availability, LaneMode, Priority, RejectionCode, RouteLane
from streams.admission.priority import throttled_first
from streams.admission.refusal import Refusal
from streams.admission.routing import Route
from streams.admission.state import AdmissionState, WorkerSignal


@dataclass(frozen=True)
class Capacity:
    """The lane can take the item: how many workers serve it and the cold-start allowance."""

    workers: int
    time_to_ready_s: float


def io_saturated(worker: WorkerSignal, state: AdmissionState) -> bool:
    # No write yet (None) is not saturation: a fresh worker could otherwise never start.
    ms = worker.host.artifact_write_ms
    return ms is not None and ms > state.config.io_saturation_ms


def cpu_starved(worker: WorkerSignal, state: AdmissionState, now: datetime) -> bool:
    since = worker.cpu_over_since
    return since is not None and (now - since).total_seconds() > state.config.cpu_starvation_s


def fallback_unavailable(worker: WorkerSignal, state: AdmissionState) -> bool:
    """Software fallback is the shared lane: disabled by the worker, or its queue is full."""
    shared = state.queue(RouteLane.shared)
    shared_full = shared.depth >= shared.policy.max_depth
    return not worker.host.shared_fallback_enabled or shared_full


def quota_met(worker: WorkerSignal) -> bool:
    host = worker.host
    return worker.quota_exhausted_flag or (host.gpu_session_quota > 0 and host.gpu_sessions_in_use >= host.gpu_session_quota)


def worker_problem(worker: WorkerSignal, route: Route, state: AdmissionState, now: datetime) -> RejectionCode | None:
    if io_saturated(worker, state):
        return RejectionCode.io_saturation
    if cpu_starved(worker, state, now):
        return RejectionCode.cpu_starvation
    # The shared lane is itself the fallback: its quota is governed by the queue policy.
    if route.lane is not RouteLane.shared and quota_met(worker) and fallback_unavailable(worker, state):
        return RejectionCode.gpu_quota_exhausted
    return None


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
    live = lane.live_workers(now, cfg.heartbeat_stale_s)
    if not live:
        return Refusal(RejectionCode.lane_unavailable, _TITLES[RejectionCode.lane_unavailable],
                       f"last heartbeat from lane {name} is older than {cfg.heartbeat_stale_s:g}s; "
                       "failing closed", reason="stale_signal")
    serving = [w for w in live if w.availability is not Availability.unavailable]
    if not serving:
        return Refusal(RejectionCode.lane_unavailable, _TITLES[RejectionCode.lane_unavailable],
                       f"every live worker of lane {name} reports unavailable")
    problems = [worker_problem(w, route, state, now) for w in serving]
    healthy = [w for w, p in zip(serving, problems, strict=True) if p is None]
    throttled = throttled_first(priority) and len(healthy) < len(serving)
    if not healthy or throttled:
        code = next(p for p in problems if p is not None)
        detail = {
            RejectionCode.io_saturation: f"artifact write latency above {cfg.io_saturation_ms:g} ms on lane {name}",
            RejectionCode.cpu_starvation: f"load1 above cores x {cfg.cpu_starvation_factor:g} for more "
            f"than {cfg.cpu_starvation_s:g}s on lane {name}",
            RejectionCode.gpu_quota_exhausted: f"GPU sessions at quota on lane {name} and the shared "
            "fallback is disabled or saturated",
        }.get(code, f"lane {name} cannot serve")
        if healthy:
            detail += (f"; {priority.value} work is throttled first ({len(serving) - len(healthy)} of "
                       f"{len(serving)} live workers fail a check)")
        return Refusal(code, _TITLES.get(code, "Lane cannot serve"), detail)
    cold = lane.availability is Availability.cold or all(
        w.availability is Availability.cold or not w.warm for w in healthy
    )
    return Capacity(workers=len(healthy), time_to_ready_s=cfg.cold_start_s if cold else 0.0)
