"""The memory guard without CUDA: CUDA calls skipped, RSS always measured, nothing raises.

"No CUDA" and "no NVML library" are made true for the test (monkeypatched probes), so these pass
on a GPU host too; the CUDA path itself is exercised where CUDA exists (the job-runner tests).
"""

from __future__ import annotations

import pytest

from gpu_consumers import memory_guard
from gpu_consumers.memory_guard import MemoryGuard, MemorySnapshot


def test_guard_without_cuda_frees_and_measures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory_guard, "_cuda_available", lambda: False)
    guard = MemoryGuard(use_cuda=True)  # asked for CUDA, but the host has none
    assert guard.use_cuda is False
    guard.free()
    snap = guard.measure()
    assert snap.rss_gib > 0 and snap.free_gib > 0 and snap.total_gib >= snap.free_gib
    assert snap.cuda_allocated_gib is None
    assert snap.headline()[1] == "rss_gib"


def test_headline_prefers_cuda_allocated() -> None:
    snap = MemorySnapshot(rss_gib=1.0, free_gib=2.0, total_gib=3.0, cuda_allocated_gib=0.25)
    assert snap.headline() == (0.25, "allocated_gib")


def test_missing_nvml_library_means_no_telemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    import pynvml

    def no_library() -> None:
        raise pynvml.NVMLError_LibraryNotFound()

    monkeypatch.setattr(pynvml, "nvmlInit", no_library)
    assert memory_guard.nvml_handle() is None  # no GPU telemetry, no crash
