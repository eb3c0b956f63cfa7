"""The one model a worker holds. Swapping unloads fully (and cleans up) before loading the next.

A load is refused, not attempted, when measured free memory is below the model's need plus
the reserve: an `insufficient_memory` failure is a clear answer, an OOM mid-load is not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gpu_consumers.errors import InsufficientMemory
from gpu_consumers.lane_status import LaneStatus
from gpu_consumers.memory_guard import MemoryGuard, MemorySnapshot, load_allowed
from gpu_consumers.pipelines import LoadedPipeline
from schemas.enums import ModelName


@dataclass(frozen=True)
class LoadBudget:
    need_gib: dict[ModelName, float]
    reserve_gib: float


@dataclass(frozen=True)
class Swap:
    """A model was unloaded to make room; `after` is memory measured after the cleanup."""

    unloaded: ModelName
    after: MemorySnapshot


class ModelSlot:
    def __init__(
        self,
        guard: MemoryGuard,
        budget: LoadBudget,
        loader: Callable[[ModelName], LoadedPipeline],
        status: LaneStatus,
    ) -> None:
        self._guard = guard
        self._budget = budget
        self._loader = loader
        self._status = status
        self._loaded: LoadedPipeline | None = None
        self.swaps = 0

    @property
    def current(self) -> ModelName | None:
        return self._loaded.model if self._loaded else None

    def make_room(self, model: ModelName) -> Swap | None:
        """Unload whatever other model is held (fully, with cleanup) before `model` may load."""
        if self._loaded is None or self._loaded.model is model:
            return None
        previous = self._loaded.model
        swap = Swap(previous, self.unload())
        self.swaps += 1
        return swap

    def acquire(self, model: ModelName) -> LoadedPipeline:
        """The pipeline for `model`: the held one, or loaded now if memory allows."""
        if self._loaded is not None and self._loaded.model is model:
            return self._loaded
        self.make_room(model)
        snapshot = self._guard.measure()
        need = self._budget.need_gib.get(model, 0.0)
        if not load_allowed(snapshot.free_gib, need, self._budget.reserve_gib):
            raise InsufficientMemory(
                f"refusing to load {model.value}: {snapshot.free_gib:.2f} GiB free < "
                f"need {need:.2f} GiB + reserve {self._budget.reserve_gib:.2f} GiB"
            )
        self._status.loading()
        try:
            self._loaded = self._loader(model)
        except Exception as exc:
            self._status.load_failed(str(exc))
            raise
        self._status.loaded(model)
        return self._loaded

    def unload(self) -> MemorySnapshot:
        """Drop the only reference to the pipeline, free, and measure what is left."""
        self._loaded = None  # the slot holds the only reference: the weights can go now
        self._status.unloaded()
        self._guard.free()
        return self._guard.measure()
