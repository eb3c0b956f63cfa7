"""Host signals for the withdrawal policy: load1, cores, artifact latency, GPU sessions, memory."""

from __future__ import annotations

import os

from gpu_consumers.lane_status import LaneStatusView
from gpu_consumers.memory_guard import MemorySnapshot
from schemas.lane import HostPressure


def host_pressure(
    status: LaneStatusView, memory: MemorySnapshot, session_quota: int, shared_fallback_enabled: bool
) -> HostPressure:
    load1 = os.getloadavg()[0]
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
