"""The models a worker holds: every one stays loaded while they fit; least-recently-used goes first.

Fit check (pure, `fits`): a model may load when the needs of the models already held, plus its
own need, plus the reserve stay within the lane's memory budget, and measured free memory covers
its need plus the reserve. The budget is `lane_model_budget_gib`, or by default the memory free
for models when the worker started (CUDA free memory; host available memory on CPU), so the
same accounting runs, and is tested, on CPU.

A load that would not fit evicts least-recently-used models (each unload fully cleaned up and
measured) until it fits; a model that cannot fit even alone is refused without evicting anything
(`InsufficientMemory`), so the warm models stay. Every load and eviction is reported, with its
reason, through `on_change`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from gpu_consumers.errors import InsufficientMemory
from gpu_consumers.lane_status import LaneStatus
from gpu_consumers.memory_guard import MemoryGuard, MemorySnapshot
from gpu_consumers.pipelines import LoadedPipeline
from schemas.enums import ModelName


@dataclass(frozen=True)
class LoadBudget:
    need_gib: dict[ModelName, float]
    reserve_gib: float
    #: Memory the held models may take together; None: what was free when the worker started.
    budget_gib: float | None = None

    def need(self, model: ModelName) -> float:
        return self.need_gib.get(model, 0.0)


def fits(budget_gib: float, held_need_gib: float, need_gib: float, reserve_gib: float, free_gib: float) -> bool:
    """The fit check: within the budget by accounting, and within what is measured free."""
    return held_need_gib + need_gib + reserve_gib <= budget_gib and free_gib >= need_gib + reserve_gib


class ChangeKind(StrEnum):
    loaded = "loaded"
    evicted = "evicted"


@dataclass(frozen=True)
class ModelChange:
    kind: ChangeKind
    model: ModelName
    #: Why: `first_use` / `not_resident` for loads, `make_room_for_<model>` for evictions.
    reason: str
    held: tuple[ModelName, ...]
    #: Memory measured after the change (after the cleanup, for an eviction).
    after: MemorySnapshot


class ModelCache:
    def __init__(
        self,
        guard: MemoryGuard,
        budget: LoadBudget,
        loader: Callable[[ModelName], LoadedPipeline],
        status: LaneStatus,
        on_change: Callable[[ModelChange], None] | None = None,
    ) -> None:
        self._guard = guard
        self._budget = budget
        self._loader = loader
        self._status = status
        self._on_change = on_change
        self._held: OrderedDict[ModelName, LoadedPipeline] = OrderedDict()  # least recent first
        self._budget_gib = budget.budget_gib if budget.budget_gib is not None else guard.measure().free_gib
        self._ever_loaded: set[ModelName] = set()
        self.loads = 0
        self.evictions = 0

    @property
    def held(self) -> tuple[ModelName, ...]:
        return tuple(self._held)

    @property
    def budget_gib(self) -> float:
        return self._budget_gib

    def _held_need(self) -> float:
        return sum(self._budget.need(m) for m in self._held)

    def _fits(self, model: ModelName, snapshot: MemorySnapshot) -> bool:
        return fits(self._budget_gib, self._held_need(), self._budget.need(model), self._budget.reserve_gib,
                    snapshot.free_gib)

    def acquire(self, model: ModelName) -> tuple[LoadedPipeline, list[ModelChange]]:
        """The pipeline for `model` (held, or loaded now) and the evictions that made room for it."""
        held = self._held.get(model)
        if held is not None:
            self._held.move_to_end(model)
            self._status.loaded(model)
            return held, []
        need, reserve = self._budget.need(model), self._budget.reserve_gib
        if need + reserve > self._budget_gib:
            raise InsufficientMemory(
                f"refusing to load {model.value}: need {need:.2f} GiB + reserve {reserve:.2f} GiB exceeds "
                f"the lane's budget of {self._budget_gib:.2f} GiB"
            )
        evicted: list[ModelChange] = []
        snapshot = self._guard.measure()
        while self._held and not self._fits(model, snapshot):
            victim = next(iter(self._held))
            snapshot = self._unload(victim)
            change = ModelChange(ChangeKind.evicted, victim, f"make_room_for_{model.value}", self.held, snapshot)
            evicted.append(change)
            self._report(change)
        if not self._fits(model, snapshot):
            raise InsufficientMemory(
                f"refusing to load {model.value}: {snapshot.free_gib:.2f} GiB free < "
                f"need {need:.2f} GiB + reserve {reserve:.2f} GiB"
            )
        self._status.loading()
        try:
            loaded = self._loader(model)
        except Exception as exc:
            self._status.load_failed(str(exc))
            raise
        self._held[model] = loaded
        self.loads += 1
        reason = "not_resident" if model in self._ever_loaded else "first_use"
        self._ever_loaded.add(model)
        self._status.loaded(model)
        self._report(ModelChange(ChangeKind.loaded, model, reason, self.held, self._guard.measure()))
        return loaded, evicted

    def _unload(self, model: ModelName) -> MemorySnapshot:
        """Drop the only reference to the pipeline, free, and measure what is left."""
        del self._held[model]  # the cache holds the only reference: the weights can go now
        self.evictions += 1
        if not self._held:
            self._status.unloaded()
        self._guard.free()
        return self._guard.measure()

    def _report(self, change: ModelChange) -> None:
        if self._on_change is not None:
            self._on_change(change)
