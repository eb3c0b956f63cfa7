"""The simulated workers' slotted events fold exactly like the wire events they stand for."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import (
    Availability,
    GenerationTask,
    LaneEvent,
    LaneEventType,
    LaneMode,
    ModelName,
    RouteLane,
    TaskErrorCode,
    TaskEvent,
    TaskStatus,
)
from streams.admission.decide import apply, decide
from streams.admission.snapshot import state_document
from streams.admission.state import AdmissionState, fold_lane_event, fold_task_event
from streams.simulate.workers import (
    Job,
    LaneWorkers,
    done_event,
    expired_event,
    heartbeat,
    started_event,
)
from tests.admission_states import state
from tests.factories import at, request


def decided(task_id: str) -> AdmissionState:
    s = state(degraded=True)
    apply(s, decide(s, request(ModelName.anisora, task_id=task_id), at(1)))
    return s


def wire(job: Job, lane: RouteLane, status: TaskStatus, when: datetime, **fields: Any) -> TaskEvent:
    task = GenerationTask(id=job.task_id, model=job.task.model, type="image_to_video", status=status,
                          created_at=when, updated_at=when,
                          error_msg="dropped" if status is TaskStatus.failed else None)
    return TaskEvent(occurred_at=when, task=task, lane=lane, **fields)


def job() -> Job:
    return Job("job-1", "anisora", RouteLane.shared, 1.0, LaneMode.degraded_shared, 2.5)


DONE_FIELDS = {"duration_seconds": 2.5, "artifact_path": "/a.mp4"}
CASES: list[tuple[str, Callable[[Job, float], TaskEvent], list[tuple[TaskStatus, dict[str, Any]]]]] = [
    ("started", started_event, [(TaskStatus.processing, {})]),
    ("started, done", done_event, [(TaskStatus.processing, {}), (TaskStatus.done, DONE_FIELDS)]),
    ("expired", expired_event, [(TaskStatus.failed, {"error_code": TaskErrorCode.queue_overloaded})]),
]


@pytest.mark.parametrize(("name", "make", "steps"), CASES, ids=[c[0] for c in CASES])
def test_a_simulated_task_event_folds_like_the_wire_one(
        name: str, make: Callable[[Job, float], TaskEvent],
        steps: list[tuple[TaskStatus, dict[str, Any]]]) -> None:
    simulated, real, one = decided("job-1"), decided("job-1"), job()
    if len(steps) == 2:
        assert fold_task_event(simulated, started_event(one, at(2).timestamp()))
    for status, fields in steps:
        assert fold_task_event(real, wire(one, RouteLane.shared, status, at(2), **fields))
    assert fold_task_event(simulated, make(one, at(2).timestamp()))
    assert state_document(simulated) == state_document(real)
    assert state_document(real) != state_document(decided("job-1")), "the fold changed something"


def test_an_event_of_a_task_decided_before_the_dedup_window_folds_like_the_wire_one() -> None:
    """The fold reads the event's time only for a task it no longer remembers."""
    simulated, real, one = state(), state(), job()
    late = at(2).timestamp()
    assert fold_task_event(simulated, started_event(one, late))
    assert fold_task_event(real, wire(one, RouteLane.shared, TaskStatus.processing, at(2)))
    assert state_document(simulated) == state_document(real)
    assert simulated.early == real.early and "job-1" in real.early


def test_a_simulated_heartbeat_folds_like_the_wire_one() -> None:
    simulated, real = state(), state()
    workers = LaneWorkers(RouteLane.shared, 4)
    for busy in (False, True):
        beat = heartbeat(workers.beats[3], busy, at(4 + busy))
        assert fold_lane_event(simulated, beat) is None
        host = beat.host
        assert host is not None and host.gpu_sessions_in_use == int(busy)
        fold_lane_event(real, LaneEvent(event_type=LaneEventType.heartbeat, lane_key=RouteLane.shared,
                                        worker_id="sim-shared-3", availability=Availability.ready, warm=True,
                                        host=host, occurred_at=at(4 + busy)))
        assert state_document(simulated) == state_document(real)
        assert real.lane(RouteLane.shared).live_workers(at(5), 15.0) == \
            simulated.lane(RouteLane.shared).live_workers(at(5), 15.0)


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
            assert len(workers.beats) >= n
        assert workers.busy == busy
