"""Free, measure, and decide whether a model may load. CUDA calls are guarded, never assumed.

On a CPU-only torch, `torch.cuda.memory_allocated()` answers 0 but `mem_get_info`,
`synchronize` and `ipc_collect` raise, so every CUDA call sits behind `cuda_available`.
pynvml raising `NVMLError_LibraryNotFound` (no driver) means "no GPU telemetry", not an error.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
from dataclasses import dataclass
from typing import Any

import psutil

log = logging.getLogger(__name__)
GIB = float(1 << 30)


@dataclass(frozen=True)
class MemorySnapshot:
    rss_gib: float
    #: Memory a new model may use: CUDA free (mem_get_info) on GPU, host available on CPU.
    free_gib: float
    total_gib: float
    cuda_allocated_gib: float | None = None
    cuda_reserved_gib: float | None = None
    device_used_gib: float | None = None
    device_total_gib: float | None = None

    def headline(self) -> tuple[float, str]:
        """The `value`/`value_unit` of a memory event: VRAM allocated on CUDA, RSS on CPU."""
        if self.cuda_allocated_gib is not None:
            return round(self.cuda_allocated_gib, 6), "allocated_gib"
        return round(self.rss_gib, 6), "rss_gib"


def load_allowed(free_gib: float, need_gib: float, reserve_gib: float) -> bool:
    """A model loads only if what it needs plus the reserve fits in what is measured free."""
    return free_gib >= need_gib + reserve_gib


class MemoryGuard:
    def __init__(self, use_cuda: bool) -> None:
        self.use_cuda = use_cuda and _cuda_available()
        self._nvml: Any = _nvml_handle() if self.use_cuda else None
        self._libc = _libc()

    @property
    def has_nvml(self) -> bool:
        """Whether device memory figures come from NVML (else from CUDA's `mem_get_info`)."""
        return self._nvml is not None

    def freeze_baseline(self) -> None:
        """Move everything alive now (torch, diffusers, transformers: ~millions of objects) out
        of the collector's reach. Called once after imports and before any model loads, so a
        full `gc.collect()` after each job scans only models and job garbage, not the import-time
        heap. Frozen objects are still freed by refcount; only cycles among
        import-time objects (which live for the process anyway) are never collected."""
        gc.collect()
        gc.freeze()

    def free(self) -> None:
        """gc, then hand cached CUDA blocks and CUDA IPC handles back; trim the C heap on CPU."""
        gc.collect()
        if self.use_cuda:
            import torch

            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            torch.cuda.ipc_collect()
        if self._libc is not None:
            # glibc keeps freed arenas mapped; without a trim RSS ratchets up across model swaps.
            self._libc.malloc_trim(0)

    def measure(self) -> MemorySnapshot:
        rss = psutil.Process().memory_info().rss / GIB
        if not self.use_cuda:
            vm = psutil.virtual_memory()
            return MemorySnapshot(rss_gib=rss, free_gib=vm.available / GIB, total_gib=vm.total / GIB)
        import torch

        free, total = torch.cuda.mem_get_info()
        used_nvml = total_nvml = None
        if self._nvml is not None:
            import pynvml

            info = pynvml.nvmlDeviceGetMemoryInfo(self._nvml)
            used_nvml, total_nvml = info.used / GIB, info.total / GIB
        return MemorySnapshot(
            rss_gib=rss,
            free_gib=free / GIB,
            total_gib=total / GIB,
            cuda_allocated_gib=torch.cuda.memory_allocated() / GIB,
            cuda_reserved_gib=torch.cuda.memory_reserved() / GIB,
            device_used_gib=used_nvml if used_nvml is not None else (total - free) / GIB,
            device_total_gib=total_nvml if total_nvml is not None else total / GIB,
        )


def _cuda_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # a broken driver install reads as "no CUDA", not a crash
        return False


def _nvml_handle() -> Any:
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml.nvmlDeviceGetHandleByIndex(0)
    except Exception as exc:  # NVMLError_LibraryNotFound and friends: no GPU telemetry
        log.info("no NVML telemetry: %s", exc)
        return None


def _libc() -> Any:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None
