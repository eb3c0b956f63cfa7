"""The simulated workers' events are the facts the agent's edge reads out of the wire events they
stand for, so the core folds them alike."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import (
    LaneMode,
    RouteLane,
    TaskErrorCode,
    TaskEvent,
    TaskStatus,
)
from streams.admission.core.facts import TaskFacts
from streams.admission.ingest import lane_facts, task_facts
from streams.simulate.workers import (
    Job,
    LaneWorkers,
    done_event,
    expired_event,
    heartbeat,
    started_event,
)
from tests import factories
from tests.factories import at


def wire(job: Job, status: TaskStatus, when: datetime, **fields: Any) -> TaskEvent:
    # only what `fields` names: the factory's defaults for a done or failed event would differ
    unset = {"worker_id": None, "artifact_path": None, "error_code": None}
    return factories.task_event(status, job.task_id, job.lane, model=job.model, at=when,
                                error_msg="dropped" if status is TaskStatus.failed else None, **{**unset, **fields})


def job() -> Job:
    return Job("job-1", "anisora", RouteLane.shared, 1.0, LaneMode.degraded_shared, 2.5)


DONE_FIELDS = {"duration_seconds": 2.5, "artifact_path": "/a.mp4"}
CASES: list[tuple[str, Callable[[Job, float], TaskFacts], TaskStatus, dict[str, Any]]] = [
    ("started", started_event, TaskStatus.processing, {}),
    ("done", done_event, TaskStatus.done, DONE_FIELDS),
    ("expired", expired_event, TaskStatus.failed, {"error_code": TaskErrorCode.queue_overloaded}),
]


@pytest.mark.parametrize(("name", "make", "status", "fields"), CASES, ids=[c[0] for c in CASES])
def test_a_simulated_task_event_is_the_facts_of_the_wire_one(
        name: str, make: Callable[[Job, float], TaskFacts], status: TaskStatus, fields: dict[str, Any]) -> None:
    one = job()
    real = task_facts(wire(one, status, at(2), **fields))
    assert make(one, at(2).timestamp()) == replace(real, event_id="")


def test_a_simulated_heartbeat_is_the_facts_of_the_wire_one() -> None:
    workers = LaneWorkers(RouteLane.shared, 4)
    for busy in (False, True):
        when = at(4 + busy)
        real = lane_facts(factories.heartbeat(RouteLane.shared, when, worker="sim-shared-3", host=factories.host(
            load1=0.0, cpu_cores=8, gpu_sessions_in_use=int(busy), artifact_write_ms=None)))
        assert heartbeat(RouteLane.shared, workers.ids[3], busy, when.timestamp()) == real


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["take", "release", "resize"]), st.integers(0, 6)), max_size=40))
def test_a_free_worker_is_the_lowest_idle_slot_below_capacity(ops: list[tuple[str, int]]) -> None:
    """The free-slot heap picks what a scan of slots 0 .. capacity-1 for an idle one would."""
    workers, capacity, busy = LaneWorkers(RouteLane.shared, 3), 3, set()
    for op, n in ops:
        idle = [slot for slot in range(capacity) if slot not in busy]
        if op == "take":
            assert bool(workers.free) == bool(idle)
            if idle:
                assert workers.take() == idle[0]
                busy.add(idle[0])
        elif op == "release" and busy:
            slot = sorted(busy)[n % len(busy)]
            workers.release(slot)
            busy.discard(slot)
        elif op == "resize":
            workers.resize(n)
            capacity = n
            assert len(workers.ids) >= n
        assert workers.busy == busy
