"""Resident models: all that fit stay loaded; least-recently-used goes only when a load would not fit."""

from __future__ import annotations

import pytest

from gpu_consumers.errors import InsufficientMemory
from gpu_consumers.lane_status import LaneStatus
from gpu_consumers.memory_guard import MemoryGuard, MemorySnapshot
from gpu_consumers.model_cache import ChangeKind, LoadBudget, ModelCache, ModelChange, fits
from gpu_consumers.pipelines import LoadedPipeline
from schemas.enums import ModelName

A, P = ModelName.anisora, ModelName.phr00t


class MeasuredGuard(MemoryGuard):
    """A guard whose measurement is fixed (plenty free) and whose free() is counted."""

    def __init__(self) -> None:
        super().__init__(use_cuda=False)
        self.frees = 0

    def free(self) -> None:
        self.frees += 1

    def measure(self) -> MemorySnapshot:
        return MemorySnapshot(rss_gib=1.0, free_gib=100.0, total_gib=128.0)


def cache(budget_gib: float, need_p: float = 1.0) -> tuple[ModelCache, list[ModelChange], MeasuredGuard]:
    changes: list[ModelChange] = []
    guard = MeasuredGuard()
    models = ModelCache(
        guard, LoadBudget({A: 1.0, P: need_p}, reserve_gib=0.5, budget_gib=budget_gib),
        lambda m: LoadedPipeline(m, object(), "cpu", 0.0), LaneStatus(max_load_failures=3), changes.append,
    )
    return models, changes, guard


def test_a_budget_that_fits_both_loads_each_model_once() -> None:
    models, changes, guard = cache(budget_gib=2.5)  # 1 + 1 + 0.5
    for i in range(100):
        models.acquire((A, P)[i % 2])
    assert models.loads == 2 and models.evictions == 0 and guard.frees == 0
    assert [(c.kind, c.model, c.reason) for c in changes] == [
        (ChangeKind.loaded, A, "first_use"), (ChangeKind.loaded, P, "first_use")
    ]
    assert models.held == (A, P)  # least recently used first


def test_a_budget_that_fits_one_evicts_the_least_recent_on_every_change() -> None:
    models, changes, guard = cache(budget_gib=2.0)
    for i in range(10):
        _, evicted = models.acquire((A, P)[i % 2])
        assert [e.model for e in evicted] == ([] if i == 0 else [(A, P)[(i + 1) % 2]])
    assert models.loads == 10 and models.evictions == 9 and guard.frees == 9
    assert changes[1] == ModelChange(ChangeKind.evicted, A, "make_room_for_phr00t", (), changes[1].after)
    assert changes[2].kind is ChangeKind.loaded and changes[2].reason == "first_use"
    assert changes[4].reason == "not_resident"  # anisora again: it was loaded before


def test_a_model_that_cannot_fit_alone_is_refused_without_evicting_the_warm_one() -> None:
    models, _, _ = cache(budget_gib=1.4)
    with pytest.raises(InsufficientMemory, match="exceeds the lane's budget"):
        models.acquire(A)
    models2, _, _ = cache(budget_gib=2.0, need_p=5.0)
    models2.acquire(A)
    with pytest.raises(InsufficientMemory):
        models2.acquire(P)
    assert models2.held == (A,) and models2.evictions == 0


def test_fit_check_needs_the_budget_and_the_measured_free_memory() -> None:
    assert fits(budget_gib=3.0, held_need_gib=1.0, need_gib=1.0, reserve_gib=0.5, free_gib=1.5)
    assert not fits(budget_gib=2.4, held_need_gib=1.0, need_gib=1.0, reserve_gib=0.5, free_gib=10.0)
    assert not fits(budget_gib=9.0, held_need_gib=1.0, need_gib=1.0, reserve_gib=0.5, free_gib=1.4)
