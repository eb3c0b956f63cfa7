"""Admission state that stays bounded and survives restarts: the dedup window, re-sends of decided
ids, defensive folds, and snapshots (snapshot + tail == full fold == the live state)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from schemas import (
    AdmissionDecision,
    DecisionOutcome,
    LaneEvent,
    ModelName,
    Priority,
    RejectionCode,
    RouteLane,
    SourceRecord,
    TaskEvent,
    TaskStatus,
)
from streams.admission import core
from streams.admission.core.answer_rows import event_id_text, verdict_row
from streams.admission.decide import Decision, apply, decide
from streams.admission.errors import SnapshotUnusable
from streams.admission.record import decide_record
from streams.admission.snapshot import (
    SNAPSHOT_VERSION,
    decode_snapshot,
    encode_snapshot,
    pack_snapshot,
    state_document,
    unpack_snapshot,
)
from streams.admission.state import (
    AdmissionConfig,
    AdmissionState,
    fold_decision,
    fold_lane_event,
    fold_task_event,
)
from tests.admission_states import state
from tests.factories import T0, at, degrade, heartbeat, request, task_event

CONFIG = AdmissionConfig(critical_producers=frozenset({"ops"}), default_service_s=1.0)
MAX_DEPTH = 25


def source(offset: int) -> SourceRecord:
    return SourceRecord(topic="tasks.requested", partition=0, offset=offset)


def worker_event(task_id: str, status: TaskStatus, lane: RouteLane, now: datetime,
                 duration: float | None = None) -> TaskEvent:
    return task_event(status, task_id, lane, model="anisora", at=now, created_at=T0, worker_id=None,
                      error_msg="x" if status is TaskStatus.failed else None,
                      error_code="pipeline_error" if status is TaskStatus.failed else None,
                      artifact_path="/a.mp4" if status is TaskStatus.done else None,
                      duration_seconds=duration if status is TaskStatus.done else None)


def invalid_body(task_id: str) -> bytes:
    body = json.loads(request(task_id=task_id).to_wire())
    body["steps"] = 5
    return json.dumps(body).encode()


# --- a small world: one admission, the lane topics and the logs it writes -------------------


@dataclass
class World:
    """Runs the pure core like the agent does and records every log it writes, in order."""

    state: AdmissionState
    log: list[tuple[str, Any]] = field(default_factory=list)
    #: What a lane worker would find on `lane.<lane>`: accepted, not replayed, not yet consumed.
    lane_topic: dict[RouteLane, dict[str, datetime]] = field(default_factory=dict)
    first: dict[str, AdmissionDecision] = field(default_factory=dict)
    offset: int = 0

    def emit(self, outcome: Decision) -> None:
        apply(self.state, outcome)
        for decision in outcome.decisions:
            self.log.append(("decision", decision))
            if decision.task_id is None or decision.replayed or decision.decided_earlier:
                continue
            if decision.reason == "preempted":
                for items in self.lane_topic.values():
                    items.pop(decision.task_id, None)
                continue
            self.first.setdefault(decision.task_id, decision)
            if decision.outcome is DecisionOutcome.accepted and decision.lane is not None:
                self.lane_topic.setdefault(decision.lane, {})[decision.task_id] = decision.occurred_at
        for event in outcome.task_events:
            self.log.append(("task", event))

    def request(self, payload: bytes, now: datetime) -> Decision:
        src = source(self.offset)
        self.offset += 1
        outcome = decide_record(self.state, payload, src, now)
        self.emit(outcome)
        return outcome

    def lane_event(self, event: LaneEvent) -> None:
        fold_lane_event(self.state, event)
        self.log.append(("lane", event))

    def worker_event(self, event: TaskEvent, bogus: bool = False) -> None:
        """A worker's event; a `bogus` one (a hostile writer's) leaves the lane topic as it is."""
        fold_task_event(self.state, event)
        self.log.append(("task", event))
        if not bogus and event.task.status is not TaskStatus.pending:
            for items in self.lane_topic.values():
                items.pop(event.task_id, None)

    def waiting(self, lane: RouteLane, now: datetime) -> int:
        """Items on the lane topic a worker would still run at `now` (expired ones it drops)."""
        items = self.lane_topic.get(lane, {})
        return sum(1 for t in items.values() if (now - t).total_seconds() <= 30)


def replay_log(log: list[tuple[str, Any]], into: AdmissionState) -> AdmissionState:
    for kind, record in log:
        if kind == "decision":
            fold_decision(into, record)
        elif kind == "task":
            fold_task_event(into, record)
        else:
            fold_lane_event(into, record)
    return into


step = st.tuples(
    st.sampled_from(["valid", "valid", "valid", "invalid_resend", "valid_resend", "start", "done",
                     "illegal", "heartbeat"]),
    st.sampled_from(list(Priority)),
    st.integers(min_value=0, max_value=40),
    st.floats(min_value=0, max_value=4),
)


def run_world(steps: list[tuple[str, Priority, int, float]]) -> tuple[World, list[datetime]]:
    world = World(state=AdmissionState(config=CONFIG))
    for lane in RouteLane:
        world.lane_event(heartbeat(lane, T0))
    world.lane_event(degrade(RouteLane.anisora, when=T0))
    now, times, ids = T0, [], []
    for kind, priority, pick, dt in steps:
        now = now + timedelta(seconds=dt)
        times.append(now)
        known = ids[pick % len(ids)] if ids else None
        if kind == "valid" or known is None:
            task_id = f"t{len(ids)}"
            ids.append(task_id)
            world.request(request(task_id=task_id, priority=priority, producer="ops").to_wire(), now)
        elif kind == "invalid_resend":
            world.request(invalid_body(known), now)
        elif kind == "valid_resend":
            out = world.request(request(task_id=known, priority=priority, producer="ops").to_wire(), now)
            assert out.decision.replayed or (now - world.first[known].occurred_at).total_seconds() > CONFIG.dedup_retention_s
        elif kind == "heartbeat":
            world.lane_event(heartbeat(RouteLane.shared, when=now))
        else:
            queued = list(world.lane_topic.get(RouteLane.shared, {}))
            if not queued:
                continue
            task_id = queued[pick % len(queued)]
            status = {"start": TaskStatus.processing, "done": TaskStatus.done,
                      "illegal": TaskStatus.done}[kind]
            if kind == "done":
                world.worker_event(worker_event(task_id, TaskStatus.processing, RouteLane.shared, now))
            world.worker_event(worker_event(task_id, status, RouteLane.shared, now, duration=1.0),
                               bogus=kind == "illegal")
        assert world.state.queue(RouteLane.shared).depth <= MAX_DEPTH
    return world, times


@settings(max_examples=60, deadline=None)
@given(st.lists(step, min_size=1, max_size=90))
def test_any_mix_of_valid_invalid_and_duplicate_requests_keeps_the_cap(steps: list[Any]) -> None:
    world, times = run_world(steps)
    now = times[-1]
    shared = world.state.queue(RouteLane.shared)
    # The depth admission counts is exactly what a worker would still find on lane.shared.
    live = {t for t, i in shared.items.items() if round(now.timestamp() - i.enqueued_at, 6) <= 30}
    assert len(live) == world.waiting(RouteLane.shared, now) <= MAX_DEPTH
    # Every task's own decision is its first one: re-sends never rewrite it.
    for task_id, first in world.first.items():
        record = world.state.record(task_id, now.timestamp())
        assert record is not None
        if record.answer.reason != "preempted":
            assert event_id_text(record.answer) == str(first.event_id)


def tasks_by_id(state: AdmissionState) -> dict[str, tuple[Any, ...]]:
    """What a state remembers of each task, answer included (two folds may remember in another
    order)."""
    return {task_id: (r.status, r.decided_ts, verdict_row(r.answer), r.preempted)
            for task_id, r in state.tasks.items()}


@settings(max_examples=40, deadline=None)
@given(st.lists(step, min_size=1, max_size=80), st.integers(min_value=0, max_value=200))
def test_snapshot_plus_tail_equals_full_fold_equals_live(steps: list[Any], cut: int) -> None:
    world, _ = run_world(steps)
    full = replay_log(world.log, AdmissionState(config=CONFIG))
    k = min(cut, len(world.log))
    head = replay_log(world.log[:k], AdmissionState(config=CONFIG))
    restored, _ = decode_snapshot(encode_snapshot(head, {}), CONFIG)
    tail = replay_log(world.log[k:], restored)
    assert state_document(tail) == state_document(full)
    assert tasks_by_id(tail) == tasks_by_id(full)
    live = state_document(world.state)
    rebuilt = state_document(full)
    # The live agent also knows which request offsets it decided; the folds learn it from sources.
    assert rebuilt["queues"] == live["queues"]
    assert tasks_by_id(full) == tasks_by_id(world.state)
    assert rebuilt["decided_offsets"] == live["decided_offsets"]


def test_decisions_after_a_restored_snapshot_are_identical() -> None:
    steps = [("valid", Priority.background, 0, 0.5)] * 30 + [("valid", Priority.critical, 0, 0.5)] * 3
    world, _ = run_world(steps)
    restored, _ = decode_snapshot(encode_snapshot(world.state, {}), CONFIG)
    req = request(task_id="after", priority=Priority.standard)
    a = decide(world.state, req, at(40), source(999))
    b = decide(restored, req, at(40), source(999))
    assert a.decision.to_wire() == b.decision.to_wire()
    assert [d.to_wire() for d in a.decisions] == [d.to_wire() for d in b.decisions]


# --- issue: a malformed re-send of a decided task ------------------------------------------


def test_invalid_resend_of_a_decided_id_never_touches_the_task() -> None:
    world = World(state=state(degraded=True))
    world.request(request(task_id="kept", priority=Priority.background).to_wire(), T0)
    before = state_document(world.state)
    out = world.request(invalid_body("kept"), at(1))
    assert out.decision.code is RejectionCode.validation_error and out.decision.status == 422
    assert out.decision.decided_earlier and out.decision.task_id == "kept"
    assert out.task_events == ()
    after = state_document(world.state)
    assert after["tasks"] == before["tasks"] and after["queues"] == before["queues"]
    again = world.request(request(task_id="kept", priority=Priority.background).to_wire(), at(2))
    assert again.decision.replayed and again.decision.outcome is DecisionOutcome.accepted


def test_invalid_first_send_is_the_tasks_own_decision() -> None:
    world = World(state=state(degraded=True))
    out = world.request(invalid_body("bad"), T0)
    assert not out.decision.decided_earlier and len(out.task_events) == 1
    again = world.request(request(task_id="bad").to_wire(), at(1))
    assert again.decision.replayed and again.decision.code is RejectionCode.validation_error


def test_the_exact_sequence_of_the_report_holds_the_cap() -> None:
    world = World(state=state(degraded=True))
    first = [f"bg{i}" for i in range(25)]
    for i, task_id in enumerate(first):
        out = world.request(request(task_id=task_id, priority=Priority.background).to_wire(), at(i / 10))
        assert out.decision.outcome is DecisionOutcome.accepted
    for task_id in first[:24]:
        assert world.request(invalid_body(task_id), at(3)).decision.decided_earlier
    fresh = [world.request(request(task_id=f"new{i}", priority=Priority.background).to_wire(), at(4))
             for i in range(25)]
    assert all(o.decision.code is RejectionCode.queue_overloaded for o in fresh)
    assert world.state.queue(RouteLane.shared).depth == 25 == world.waiting(RouteLane.shared, at(4))
    resend = world.request(request(task_id="bg0", priority=Priority.background).to_wire(), at(5))
    assert resend.decision.replayed and resend.decision.outcome is DecisionOutcome.accepted


# --- defensive folds --------------------------------------------------------------------------


def test_illegal_task_transitions_are_counted_and_ignored() -> None:
    world = World(state=state())
    world.request(request(ModelName.phr00t, task_id="x").to_wire(), T0)
    assert world.state.queue(RouteLane.phr00t).depth == 1
    assert not fold_task_event(world.state, worker_event("x", TaskStatus.done, RouteLane.phr00t, at(1), 2.0))
    assert world.state.counters.illegal_task_transitions == 1
    assert world.state.queue(RouteLane.phr00t).depth == 1  # pending -> done skips processing
    assert not world.state.queue(RouteLane.phr00t).service_times
    assert fold_task_event(world.state, worker_event("x", TaskStatus.processing, RouteLane.phr00t, at(2)))
    assert world.state.queue(RouteLane.phr00t).depth == 0
    assert fold_task_event(world.state, worker_event("x", TaskStatus.processing, RouteLane.phr00t, at(2)))
    assert fold_task_event(world.state, worker_event("x", TaskStatus.failed, RouteLane.phr00t, at(3)))
    assert not fold_task_event(world.state, worker_event("x", TaskStatus.processing, RouteLane.phr00t, at(4)))
    assert world.state.counters.illegal_task_transitions == 2


def test_unreadable_input_image_is_refused_before_any_gpu() -> None:
    s = state()
    out = decide(s, request(ModelName.phr00t, input_image="s3://frames/lighthouse.png"), T0, source(0))
    d = out.decision
    assert (d.status, d.code) == (422, RejectionCode.validation_error)
    assert [e.loc for e in d.errors] == [["input_image"]] and "s3://" in d.errors[0].msg
    for fine in ("file:///frames/a.png", "/frames/a.png", "frames/a.png"):
        assert decide(s, request(ModelName.phr00t, input_image=fine), T0).decision.outcome is DecisionOutcome.accepted


# --- the dedup window -------------------------------------------------------------------------


def test_decided_ids_are_forgotten_after_the_window_and_decided_afresh() -> None:
    cfg = AdmissionConfig(dedup_retention_s=3600.0)
    s = AdmissionState(config=cfg)
    for lane in RouteLane:
        fold_lane_event(s, heartbeat(lane, when=at(7200)))
    first = decide(s, request(ModelName.phr00t, task_id="old"), T0, source(0))
    apply(s, first)
    assert decide(s, request(ModelName.phr00t, task_id="old"), at(3599), source(1)).decision.replayed
    later = decide(s, request(ModelName.phr00t, task_id="new"), at(7200), source(2))
    apply(s, later)
    assert "old" not in s.tasks and "new" in s.tasks  # evicted once a decision moved the window
    again = decide(s, request(ModelName.phr00t, task_id="old"), at(7201), source(3))
    assert not again.decision.replayed and again.decision.outcome is DecisionOutcome.accepted


def test_a_task_forgotten_by_the_window_leaves_its_queue() -> None:
    # Its worker events would find no task any more (a fold reading the decisions first sees
    # them only after the window moved): the queue must not count it for ever.
    cfg = AdmissionConfig(dedup_retention_s=3600.0)
    s = AdmissionState(config=cfg)
    for lane in RouteLane:
        fold_lane_event(s, heartbeat(lane, when=at(7200)))
    apply(s, decide(s, request(ModelName.phr00t, task_id="old"), T0, source(0)))
    assert s.queue(RouteLane.phr00t).depth == 1
    apply(s, decide(s, request(ModelName.phr00t, task_id="new"), at(7200), source(1)))
    assert list(s.queue(RouteLane.phr00t).items) == ["new"]
    fold_task_event(s, worker_event("old", TaskStatus.processing, RouteLane.phr00t, at(7201)))
    assert list(s.queue(RouteLane.phr00t).items) == ["new"] and "old" not in s.tasks


def test_early_task_events_age_out_with_the_window() -> None:
    cfg = AdmissionConfig(dedup_retention_s=3600.0)
    s = AdmissionState(config=cfg)
    for lane in RouteLane:
        fold_lane_event(s, heartbeat(lane, when=at(7200)))
    # Read before any decision (a catch-up reading events.task ahead): kept for its decision.
    fold_task_event(s, worker_event("ahead", TaskStatus.processing, RouteLane.phr00t, at(10)))
    assert s.early["ahead"][0] is TaskStatus.processing
    apply(s, decide(s, request(ModelName.phr00t, task_id="now"), at(7200), source(0)))
    assert "ahead" not in s.early  # its decision is older than the window: it will never be kept
    fold_task_event(s, worker_event("stale", TaskStatus.done, RouteLane.phr00t, at(3599), duration=1.0))
    fold_task_event(s, worker_event("recent", TaskStatus.processing, RouteLane.phr00t, at(3601)))
    assert list(s.early) == ["recent"]
    restored, _ = decode_snapshot(encode_snapshot(s, {}), cfg)
    assert restored.early == s.early


def test_a_task_record_keeps_the_answer_not_the_request() -> None:
    s = state()
    out = decide(s, request(ModelName.phr00t, task_id="r", prompt="p" * 2000), T0, source(0))
    apply(s, out)
    answer = s.tasks["r"].answer
    assert answer.granted is None and "p" * 100 not in repr(answer)


def test_heartbeats_fold_to_the_latest_per_worker_and_gone_workers_are_forgotten() -> None:
    s = AdmissionState(config=AdmissionConfig(dedup_retention_s=60.0))
    for i in range(1000):
        fold_lane_event(s, heartbeat(RouteLane.phr00t, when=at(i), worker="w1"))
    fold_lane_event(s, heartbeat(RouteLane.phr00t, when=at(0), worker="old"))
    fold_lane_event(s, heartbeat(RouteLane.phr00t, when=at(1000), worker="w2"))
    assert sorted(s.lane(RouteLane.phr00t).workers) == ["w1", "w2"]


# --- unusable snapshots -----------------------------------------------------------------------


def test_corrupt_or_foreign_snapshots_are_refused() -> None:
    good = encode_snapshot(state(), {"x": 1})
    with pytest.raises(SnapshotUnusable):
        decode_snapshot(good[:-10], CONFIG)
    with pytest.raises(SnapshotUnusable):
        decode_snapshot(b"not zlib at all", CONFIG)
    doc, answers = unpack_snapshot(good)
    doc["version"] = SNAPSHOT_VERSION + 1
    with pytest.raises(SnapshotUnusable, match="version"):
        decode_snapshot(pack_snapshot(doc, answers), CONFIG)
    doc["version"] = SNAPSHOT_VERSION
    doc["state"]["queues"]["shared"]["items"] = [["only", "two"]]
    with pytest.raises(SnapshotUnusable):
        decode_snapshot(pack_snapshot(doc, answers), CONFIG)
    restored, covers = decode_snapshot(good, CONFIG)
    assert covers == {"x": 1} and state_document(restored) == state_document(state())


def test_unreadable_input_on_a_decided_id_is_a_stray_answer_too() -> None:
    world = World(state=state())
    world.request(request(ModelName.phr00t, task_id="img").to_wire(), T0)
    before = state_document(world.state)
    out = world.request(request(ModelName.phr00t, task_id="img", input_image="s3://x/y.png").to_wire(), at(1))
    assert out.decision.decided_earlier and out.decision.code is RejectionCode.validation_error
    assert out.task_events == () and state_document(world.state)["tasks"] == before["tasks"]


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["early", "decide"]), st.integers(0, 3), st.integers(0, 24)),
                max_size=60))
# A decision takes the first entry, and the next one is older than the window.
@example([("early", 1, 0), ("early", 2, 10), ("decide", 0, 1), ("decide", 1, 1)])
def test_early_events_age_out_exactly_as_the_window_says(steps: list[tuple[str, int, int]]) -> None:
    """`forget_before` reads `early`'s first entry only when it may have aged out (a memo): the
    entries kept are those of a state that reads it at every decision."""
    retention = 10.0
    s = AdmissionState(config=AdmissionConfig(dedup_retention_s=retention))
    expected: dict[str, float] = {}  # the reference: read at every decision
    clock = 0.0
    for kind, n, dt in steps:
        clock += dt / 4
        task_id = f"t{n}"
        if kind == "early":
            when = clock - dt
            if task_id not in s.tasks and when >= s.newest_decision_ts - retention:
                expected.pop(task_id, None)
                expected[task_id] = when
            core.fold_task(s, core.TaskFacts(task_id, TaskStatus.processing, RouteLane.phr00t, "phr00t", None, when))
            continue
        if s.record(task_id, clock) is None:
            expected.pop(task_id, None)  # its decision takes it
        newest = s.newest_decision_ts
        core.apply(s, core.Verdict(DecisionOutcome.rejected, task_id, clock, f"p0o{len(s.tasks)}"))
        while s.newest_decision_ts > newest and expected and next(iter(expected.values())) < clock - retention:
            del expected[next(iter(expected))]  # the window moved: what it left behind goes
    assert {k: v[1] for k, v in s.early.items()} == expected
