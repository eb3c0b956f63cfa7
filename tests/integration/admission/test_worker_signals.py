"""The real agent withdraws lanes on heartbeats built by the lane worker's own code.

The heartbeats come from `gpu_consumers` (`LaneStatus` -> `host_pressure` with a real
`MemoryGuard` measurement -> `heartbeat_event`) and cross the real broker; only the host's load
average is pinned, since the test cannot load the machine on purpose.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gpu_consumers import host_pressure as host_pressure_module
from gpu_consumers.heartbeat import heartbeat_event
from gpu_consumers.host_pressure import host_pressure
from gpu_consumers.lane_status import LaneStatus
from gpu_consumers.memory_guard import MemoryGuard
from schemas import (
    WITHDRAWAL_POLICY,
    LaneEvent,
    ModelName,
    RejectionCode,
    RouteLane,
    Topics,
)
from tests.broker_io import decisions, publish_events, publish_now
from tests.factories import request
from tests.integration.admission.harness import Agent

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

CORES = 4


def worker_heartbeat(lane: RouteLane, model: ModelName, when: datetime, write_ms: float | None = None,
                     worker_id: str = "w-1") -> LaneEvent:
    status = LaneStatus(max_load_failures=3)
    status.loaded(model)
    if write_ms is not None:
        status.job_started()
        status.job_finished(artifact_write_ms=write_ms)
    host = host_pressure(status.view(), MemoryGuard(use_cuda=False).measure(), session_quota=1,
                         shared_fallback_enabled=True)
    return heartbeat_event(lane, worker_id, status.view(), host, when)


def test_worker_heartbeats_withdraw_lanes_as_cpu_starvation_and_io_saturation(
        kafka_bootstrap: str, topics: Topics, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    now = datetime.now(UTC)
    monkeypatch.setattr(host_pressure_module.os, "cpu_count", lambda: CORES)
    loaded = CORES * WITHDRAWAL_POLICY.cpu_load_per_core + 1.0
    monkeypatch.setattr(host_pressure_module.os, "getloadavg", lambda: (loaded, loaded, loaded))
    starved_since = now - timedelta(seconds=WITHDRAWAL_POLICY.cpu_starvation_seconds + 10)
    starved = [worker_heartbeat(RouteLane.anisora, ModelName.anisora, at) for at in (starved_since, now)]
    monkeypatch.setattr(host_pressure_module.os, "getloadavg", lambda: (0.1, 0.1, 0.1))
    slow = worker_heartbeat(RouteLane.phr00t, ModelName.phr00t, now,
                            write_ms=WITHDRAWAL_POLICY.io_saturation_ms + 1.0)
    assert all(b.host is not None and b.host.load1 == loaded for b in starved)
    publish_events(kafka_bootstrap, topics.events_lane, starved, "anisora")
    publish_events(kafka_bootstrap, topics.events_lane, [slow], "phr00t")

    agent = Agent(kafka_bootstrap, topics, tmp_path).start()
    try:
        reqs = [request(ModelName.anisora, task_id="starved", submitted_at=datetime.now(UTC)),
                request(ModelName.phr00t, task_id="slow", submitted_at=datetime.now(UTC))]
        publish_now(kafka_bootstrap, [(topics.tasks_requested, r.task_id.encode(), r.to_wire()) for r in reqs],
                    partition=0)
        by_task = {d.task_id: d for d in decisions(kafka_bootstrap, topics, 2)}
        assert (by_task["starved"].code, by_task["starved"].status) == (RejectionCode.cpu_starvation, 503)
        assert (by_task["slow"].code, by_task["slow"].status) == (RejectionCode.io_saturation, 503)
    finally:
        agent.stop()
