"""Host signals for the withdrawal policy: load1, cores, artifact latency, GPU sessions, memory."""

from __future__ import annotations

import os
from collections.abc import Callable

from gpu_consumers.lane_status import LaneStatusView
from gpu_consumers.memory_guard import MemorySnapshot
from schemas.lane import HostPressure


def load_average() -> float:
    return os.getloadavg()[0]


def host_pressure(
    status: LaneStatusView,
    memory: MemorySnapshot,
    session_quota: int,
    shared_fallback_enabled: bool,
    load: Callable[[], float] = load_average,
) -> HostPressure:
    load1 = load()
    return HostPressure(
        load1=round(load1, 3),
        cpu_cores=os.cpu_count() or 1,
        artifact_write_ms=status.artifact_write_ms,
        gpu_sessions_in_use=status.sessions_in_use,
        gpu_session_quota=session_quota,
        shared_fallback_enabled=shared_fallback_enabled,
        vram_used_gib=memory.device_used_gib,
        vram_total_gib=memory.device_total_gib,
        rss_gib=round(memory.rss_gib, 6),
    )
