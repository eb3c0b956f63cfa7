"""The load a heartbeat reports: the host's load average, or a stand-in host's scripted one."""

from __future__ import annotations

import os
from collections.abc import Callable

from gpu_consumers.host_pressure import host_pressure
from gpu_consumers.lane_status import LaneStatus
from gpu_consumers.memory_guard import MemoryGuard


def pressure(load: Callable[[], float] | None = None) -> float:
    status = LaneStatus(max_load_failures=3).view()
    memory = MemoryGuard(use_cuda=False).measure()
    if load is None:
        return host_pressure(status, memory, 1, True).load1
    return host_pressure(status, memory, 1, True, load).load1


def test_a_scripted_load_replaces_the_load_average() -> None:
    assert pressure(load=lambda: 7.25) == 7.25


def test_by_default_the_host_load_average_is_reported() -> None:
    before = os.getloadavg()[0]
    reported = pressure()
    after = os.getloadavg()[0]
    assert min(before, after) - 0.5 <= reported <= max(before, after) + 0.5
