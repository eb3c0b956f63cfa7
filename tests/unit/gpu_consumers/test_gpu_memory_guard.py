"""The memory guard on a CPU-only host: CUDA calls skipped, RSS always measured, nothing raises."""

from __future__ import annotations

from gpu_consumers.memory_guard import MemoryGuard, MemorySnapshot


def test_cpu_guard_frees_and_measures_without_cuda() -> None:
    guard = MemoryGuard(use_cuda=True)  # asked for CUDA, but this host has none
    assert guard.use_cuda is False
    guard.free()
    snap = guard.measure()
    assert snap.rss_gib > 0 and snap.free_gib > 0 and snap.total_gib >= snap.free_gib
    assert snap.cuda_allocated_gib is None
    assert snap.headline()[1] == "rss_gib"


def test_headline_prefers_cuda_allocated() -> None:
    snap = MemorySnapshot(rss_gib=1.0, free_gib=2.0, total_gib=3.0, cuda_allocated_gib=0.25)
    assert snap.headline() == (0.25, "allocated_gib")


def test_missing_nvml_library_means_no_telemetry() -> None:
    from gpu_consumers.memory_guard import _nvml_handle

    assert _nvml_handle() is None  # NVMLError_LibraryNotFound here: no GPU telemetry, no crash
