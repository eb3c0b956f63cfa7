"""`cpu_starvation` and `io_saturation` driven by the heartbeats a lane worker really builds.

The heartbeat comes from the worker's own code path (`LaneStatus` -> `host_pressure` with a real
`MemoryGuard` measurement -> `heartbeat_event`), crosses the wire as bytes and is folded and
decided by admission. Only the host's load average is pinned: the test cannot load the machine.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from gpu_consumers import host_pressure as host_pressure_module
from gpu_consumers.heartbeat import heartbeat_event
from gpu_consumers.host_pressure import host_pressure
from gpu_consumers.lane_status import LaneStatus
from gpu_consumers.memory_guard import MemoryGuard
from schemas import DecisionOutcome, LaneEvent, ModelName, Priority, RejectionCode, RouteLane
from schemas.wire import decode
from streams.admission.core.lane_queue import QueuedItem
from streams.admission.decide import decide
from streams.admission.state import AdmissionState, fold_lane_event
from tests.factories import at, request

CORES = 4


class Host:
    """The load average the worker's `host_pressure` reads."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.load1 = 0.2
        monkeypatch.setattr(host_pressure_module.os, "getloadavg", lambda: (self.load1, 0.0, 0.0))
        monkeypatch.setattr(host_pressure_module.os, "cpu_count", lambda: CORES)


class Worker:
    """One lane worker's status and heartbeats, as `gpu_consumers.worker` builds them."""

    def __init__(self, lane: RouteLane, worker_id: str) -> None:
        self.lane, self.worker_id = lane, worker_id
        self.status = LaneStatus(max_load_failures=3)
        self.status.loaded(ModelName.anisora)
        self.guard = MemoryGuard(use_cuda=False)

    def heartbeat(self, now: datetime) -> LaneEvent:
        host = host_pressure(self.status.view(), self.guard.measure(), session_quota=1,
                             shared_fallback_enabled=True)
        wire = heartbeat_event(self.lane, self.worker_id, self.status.view(), host, now).to_wire()
        return decode(LaneEvent, wire)


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> Host:
    return Host(monkeypatch)


def admission_with(*beats: LaneEvent) -> AdmissionState:
    s = AdmissionState()
    for beat in beats:
        fold_lane_event(s, beat)
    return s


def test_sustained_worker_load_withdraws_the_lane_as_cpu_starvation(host: Host) -> None:
    worker = Worker(RouteLane.anisora, "a-1")
    host.load1 = CORES * 1.5 + 0.5
    beats = [worker.heartbeat(at(t)) for t in (0, 10, 20, 30)]
    assert all(b.host is not None and b.host.load1 > CORES * 1.5 for b in beats)
    s = admission_with(*beats[:3])
    assert decide(s, request(), at(21)).decision.outcome is DecisionOutcome.accepted
    fold_lane_event(s, beats[3])
    d = decide(s, request(), at(31)).decision
    assert (d.code, d.status) == (RejectionCode.cpu_starvation, 503)
    host.load1 = 1.0
    fold_lane_event(s, worker.heartbeat(at(32)))
    assert decide(s, request(), at(33)).decision.outcome is DecisionOutcome.accepted


def test_a_slow_artifact_write_withdraws_the_lane_as_io_saturation(host: Host) -> None:
    worker = Worker(RouteLane.anisora, "a-1")
    worker.status.job_started()
    worker.status.job_finished(artifact_write_ms=1501.0)
    d = decide(admission_with(worker.heartbeat(at(0))), request(), at(1)).decision
    assert (d.code, d.status) == (RejectionCode.io_saturation, 503)
    worker.status.artifact_written(1500.0)
    assert decide(admission_with(worker.heartbeat(at(0))), request(), at(1)).decision.outcome \
        is DecisionOutcome.accepted


def test_a_busy_worker_flags_its_session_quota_and_withdraws_only_background_beside_an_idle_one(
        host: Host) -> None:
    busy, idle = Worker(RouteLane.anisora, "a-busy"), Worker(RouteLane.anisora, "a-idle")
    busy.status.job_started()
    beat = busy.heartbeat(at(0))
    assert beat.gpu_sessions_quota_exhausted is True
    s = admission_with(beat, idle.heartbeat(at(0)))
    # A fallback that cannot take work makes the busy worker's quota a withdrawal.
    s.queue(RouteLane.shared).items.update({
        f"q{i}": _queued(f"q{i}") for i in range(s.config.queue_policy.max_depth)})
    assert decide(s, request(), at(1)).decision.outcome is DecisionOutcome.accepted
    d = decide(s, request(priority=Priority.background), at(1)).decision
    assert d.code is RejectionCode.gpu_quota_exhausted


def _queued(task_id: str) -> QueuedItem:
    return QueuedItem(task_id=task_id, priority=Priority.standard, enqueued_at=at(0).timestamp(), model=ModelName.phr00t)


def test_a_worker_that_cannot_load_its_model_makes_the_lane_unavailable(host: Host) -> None:
    worker = Worker(RouteLane.phr00t, "p-1")
    for _ in range(3):
        worker.status.load_failed("boom")
    d = decide(admission_with(worker.heartbeat(at(0))), request(ModelName.phr00t), at(1)).decision
    assert d.code is RejectionCode.lane_unavailable
