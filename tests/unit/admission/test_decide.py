"""Every rule of the pure admission core, without a broker."""

from __future__ import annotations

from collections import deque

from schemas import (
    Availability,
    DecisionOutcome,
    EncodingProfile,
    LaneMode,
    MemoryEventType,
    ModelName,
    Priority,
    RejectionCode,
    RouteLane,
    TaskErrorCode,
    TaskEvent,
    TaskStatus,
)
from streams.admission.core.lane_queue import expected_wait
from streams.admission.decide import apply, decide
from streams.admission.state import AdmissionConfig, fold_lane_event, fold_task_event
from tests.admission_states import state
from tests.factories import T0, at, degrade, heartbeat, lane_state, request, task, task_event


def fill(s, n, priority=Priority.standard, model=ModelName.anisora, when=T0):  # type: ignore[no-untyped-def]
    outcomes = []
    for _ in range(n):
        outcome = decide(s, request(model, priority=priority, producer="ops"), when)
        apply(s, outcome)
        outcomes.append(outcome)
    return outcomes


def test_dedicated_lane_ready_routes_to_that_lane() -> None:
    out = decide(state(), request(ModelName.phr00t), T0)
    d = out.decision
    assert d.outcome is DecisionOutcome.accepted and d.lane is RouteLane.phr00t
    assert d.lane_mode is LaneMode.dedicated and d.degradations == [] and d.time_to_ready_seconds == 0
    assert [e.task.status for e in out.task_events] == [TaskStatus.pending]


def test_cold_lane_is_accepted_with_time_to_ready() -> None:
    s = state()
    fold_lane_event(s, heartbeat(RouteLane.anisora, T0, availability=Availability.cold))
    d = decide(s, request(), T0).decision
    assert d.outcome is DecisionOutcome.accepted and d.time_to_ready_seconds == 20.0
    assert [x.parameter for x in d.degradations] == ["time_to_ready"]


def test_degraded_lane_routes_to_shared_with_elastic_step_downs() -> None:
    d = decide(state(degraded=True), request(width=1280, height=720, fps=30), T0).decision
    assert d.lane is RouteLane.shared and d.lane_mode is LaneMode.degraded_shared
    assert {x.parameter for x in d.degradations} == {"resolution", "fps", "encoding_profile"}
    assert d.request is not None
    assert (d.request.width, d.request.height, d.request.fps, d.request.num_frames) == (832, 480, 15, 41)
    assert d.request.encoding_profile is EncodingProfile.h264_main


def test_critical_is_never_degraded() -> None:
    d = decide(state(degraded=True), request(width=1280, height=720, priority=Priority.critical,
                                             producer="ops"), T0).decision
    assert d.outcome is DecisionOutcome.accepted and d.degradations == []
    assert d.request is not None and d.request.width == 1280


def test_critical_needs_authorised_producer() -> None:
    for producer in (None, "someone"):
        out = decide(state(), request(priority=Priority.critical, producer=producer), T0)
        assert out.decision.status == 403 and out.decision.code is RejectionCode.priority_not_authorised
        assert out.task_events[0].error_code is TaskErrorCode.admission_rejected


def test_26th_item_is_refused_with_depth() -> None:
    s = state(degraded=True)
    assert all(o.decision.outcome is DecisionOutcome.accepted for o in fill(s, 25))
    out = decide(s, request(), T0)
    d = out.decision
    assert (d.status, d.code, d.reason, d.queue_depth) == (503, RejectionCode.queue_overloaded, "depth", 25)
    (memory,) = out.memory_events
    assert memory.event_type is MemoryEventType.queue_overloaded and memory.value == 25
    assert memory.value_unit == "queue_depth"


def test_dedicated_lane_has_no_depth_limit() -> None:
    s = state()
    assert all(o.decision.outcome is DecisionOutcome.accepted for o in fill(s, 40))


def test_wait_breach_refuses_item_k_plus_1() -> None:
    s = state(degraded=True)
    for _ in range(3):  # observed service time 4 s -> 8 ahead x 4 s = 32 s > 30 s
        fold_task_event(s, done_event("seen", 4.0))
    assert expected_wait(7, 4.0, 1) <= 30 < expected_wait(8, 4.0, 1)
    assert all(o.decision.outcome is DecisionOutcome.accepted for o in fill(s, 8))
    d = decide(s, request(), T0).decision
    assert (d.code, d.reason, d.estimated_wait_seconds) == (RejectionCode.queue_overloaded, "wait", 32.0)


def test_more_live_workers_shorten_the_wait() -> None:
    s = state(degraded=True)
    fold_lane_event(s, heartbeat(RouteLane.shared, T0, worker="w2"))
    fold_task_event(s, done_event("seen", 4.0))
    assert all(o.decision.outcome is DecisionOutcome.accepted for o in fill(s, 15))


def test_full_background_queue_preempts_newest_for_critical() -> None:
    s = state(degraded=True)
    queued = fill(s, 25, Priority.background)
    out = decide(s, request(priority=Priority.critical, producer="ops"), T0)
    assert out.decision.outcome is DecisionOutcome.accepted
    assert out.preempted is not None and out.preempted.task_id == queued[-1].decision.task_id
    assert out.preempted.reason == "preempted" and out.preempted.code is RejectionCode.queue_overloaded
    failed = [e for e in out.task_events if e.task.status is TaskStatus.failed]
    assert [e.task_id for e in failed] == [queued[-1].decision.task_id]
    apply(s, out)
    assert s.queue(RouteLane.shared).depth == 25
    assert queued[-1].decision.task_id not in s.queue(RouteLane.shared).items
    again = decide(s, request(queued[-1].decision.request.model, task_id=queued[-1].decision.task_id), T0)  # type: ignore[union-attr]
    assert again.decision.replayed and again.decision.reason == "preempted"


def test_the_acceptance_event_of_a_preempted_task_read_back_is_not_an_illegal_transition() -> None:
    s = state(degraded=True)
    queued = fill(s, 25, Priority.background)
    apply(s, decide(s, request(priority=Priority.critical, producer="ops"), T0))
    victim = queued[-1]
    own_pending = victim.task_events[0]
    assert own_pending.task.status is TaskStatus.pending and own_pending.task_id == victim.decision.task_id
    assert fold_task_event(s, own_pending)
    assert s.counters.illegal_task_transitions == 0
    record = s.record(own_pending.task_id, T0.timestamp())
    assert record is not None and record.status is TaskStatus.failed and record.preempted


def test_full_critical_queue_refuses_critical() -> None:
    s = state(degraded=True)
    assert all(o.decision.outcome is DecisionOutcome.accepted for o in fill(s, 25, Priority.critical))
    out = decide(s, request(priority=Priority.critical, producer="ops"), T0)
    assert out.decision.code is RejectionCode.queue_overloaded and out.preempted is None


def test_background_never_preempts_background() -> None:
    s = state(degraded=True)
    fill(s, 25, Priority.background)
    out = decide(s, request(priority=Priority.background), T0)
    assert out.decision.code is RejectionCode.queue_overloaded and out.preempted is None


def test_resent_task_id_gets_same_decision() -> None:
    s = state()
    first = decide(s, request(task_id="dup-1"), T0)
    apply(s, first)
    again = decide(s, request(task_id="dup-1"), at(1))
    assert again.decision.replayed and again.task_events == ()
    assert again.decision.replay_of == first.decision.event_id
    # A replay is the task's own answer without the admitted request (that is on tasks.accepted).
    strip = {"event_id", "occurred_at", "replayed", "replay_of", "source", "request"}
    assert again.decision.model_dump(exclude=strip) == first.decision.model_dump(exclude=strip)
    assert again.decision.request is None
    assert s.queue(RouteLane.anisora).depth == 1


def test_missing_heartbeat_fails_closed() -> None:
    s = state()
    s.lane(RouteLane.phr00t).workers.clear()
    d = decide(s, request(ModelName.phr00t), T0).decision
    assert (d.code, d.reason, d.status) == (RejectionCode.lane_unavailable, "missing_signal", 503)


def test_stale_heartbeat_fails_closed() -> None:
    d = decide(state(), request(), at(16)).decision
    assert (d.code, d.reason) == (RejectionCode.lane_unavailable, "stale_signal")


def test_lane_marked_unavailable() -> None:
    s = state()
    fold_lane_event(s, lane_state(RouteLane.anisora, when=T0, availability=Availability.unavailable))
    assert decide(s, request(), T0).decision.code is RejectionCode.lane_unavailable


def test_io_saturation() -> None:
    d = decide(state(artifact_write_ms=1600.0), request(), T0).decision
    assert d.code is RejectionCode.io_saturation
    assert decide(state(artifact_write_ms=1500.0), request(), T0).decision.outcome is DecisionOutcome.accepted


def test_cpu_starvation_needs_more_than_30s() -> None:
    s = state(load1=7.0)  # 4 cores x 1.5 = 6
    fold_lane_event(s, heartbeat(RouteLane.anisora, when=at(10), load1=7.0))
    assert decide(s, request(), at(12)).decision.outcome is DecisionOutcome.accepted
    fold_lane_event(s, heartbeat(RouteLane.anisora, when=at(25), load1=7.0))
    assert decide(s, request(), at(31)).decision.code is RejectionCode.cpu_starvation
    fold_lane_event(s, heartbeat(RouteLane.anisora, when=at(32), load1=1.0))
    assert decide(s, request(), at(33)).decision.outcome is DecisionOutcome.accepted


def test_gpu_quota_with_fallback_disabled() -> None:
    d = decide(state(gpu_sessions_in_use=1, gpu_session_quota=1, shared_fallback_enabled=False),
               request(), T0).decision
    assert d.code is RejectionCode.gpu_quota_exhausted
    ok = decide(state(gpu_sessions_in_use=1, gpu_session_quota=1), request(), T0).decision
    assert ok.outcome is DecisionOutcome.accepted


def test_one_healthy_worker_is_enough() -> None:
    s = state(artifact_write_ms=2000.0)
    fold_lane_event(s, heartbeat(RouteLane.anisora, T0, worker="w2"))
    assert decide(s, request(), T0).decision.outcome is DecisionOutcome.accepted


def test_processing_event_frees_the_queue() -> None:
    s = state(degraded=True)
    outcomes = fill(s, 25)
    fold_task_event(s, started_event(outcomes[0].decision.task_id))  # type: ignore[arg-type]
    assert s.queue(RouteLane.shared).depth == 24
    assert decide(s, request(), T0).decision.outcome is DecisionOutcome.accepted


def test_items_past_the_wait_stop_counting_and_the_worker_reports_the_timeout() -> None:
    s = state(degraded=True)
    fill(s, 25)
    fold_lane_event(s, heartbeat(RouteLane.shared, when=at(31)))
    out = decide(s, request(), at(31))
    assert out.decision.outcome is DecisionOutcome.accepted and len(out.expired) == 25
    # The lane worker that drops an expired item is the one emitter of its queue_timeout.
    assert all(m.event_type is not MemoryEventType.queue_timeout for m in out.memory_events)
    apply(s, out)
    assert s.queue(RouteLane.shared).depth == 1


def test_decide_is_pure_and_deterministic() -> None:
    s = state(degraded=True)
    fill(s, 25, Priority.background)
    req = request(priority=Priority.standard)
    before = {k: dict(v.items) for k, v in s.queues.items()}
    a, b = decide(s, req, T0), decide(s, req, T0)
    assert a == b
    assert {k: dict(v.items) for k, v in s.queues.items()} == before


def test_illegal_availability_transition_is_refused() -> None:
    s = state()
    for availability in (Availability.unavailable, Availability.cold):
        fold_lane_event(s, lane_state(RouteLane.phr00t, when=T0, availability=availability))
    assert s.lane(RouteLane.phr00t).availability is Availability.unavailable
    assert s.counters.illegal_lane_transitions == 1


def test_entering_degraded_mode_reports_a_transition() -> None:
    s = state()
    transition = fold_lane_event(s, degrade(RouteLane.phr00t, when=T0))
    assert transition is not None and transition.new_mode is LaneMode.degraded_shared
    assert fold_lane_event(s, degrade(RouteLane.phr00t, when=T0)) is None


def test_config_default_service_time() -> None:
    s = state(degraded=True, config=AdmissionConfig(default_service_s=10.0))
    assert all(o.decision.outcome is DecisionOutcome.accepted for o in fill(s, 4))  # 3 ahead x 10 s = 30
    assert decide(s, request(), T0).decision.reason == "wait"


def test_service_time_falls_back_to_the_model_on_any_lane() -> None:
    # The shared lane has served nothing yet; anisora's dedicated lane took 10 s per job.
    s = state(degraded=True)
    fold_task_event(s, done_event("seen-a", 10.0, lane=RouteLane.anisora))
    fold_task_event(s, done_event("seen-p", 1.0, lane=RouteLane.phr00t, model="phr00t"))
    assert s.service_seconds(RouteLane.shared, "anisora") == 10.0
    assert s.service_seconds(RouteLane.shared, "phr00t") == 1.0
    assert all(o.decision.outcome is DecisionOutcome.accepted for o in fill(s, 4))  # 3 ahead x 10 s = 30
    d = decide(s, request(), T0).decision
    assert (d.code, d.reason, d.estimated_wait_seconds) == (RejectionCode.queue_overloaded, "wait", 40.0)


def test_lane_service_time_wins_over_the_model_fallback_and_default() -> None:
    s = state(degraded=True, config=AdmissionConfig(default_service_s=7.0))
    assert s.service_seconds(RouteLane.shared, "anisora") == 7.0  # nothing observed: the default
    fold_task_event(s, done_event("seen-a", 10.0, lane=RouteLane.anisora))
    assert s.service_seconds(RouteLane.shared, "anisora") == 10.0  # the model, on its own lane
    fold_task_event(s, done_event("seen-s", 2.0))
    # The shared lane's own observation now wins; the model mean covers both lanes.
    assert s.service_seconds(RouteLane.shared, "anisora") == 2.0
    assert s.service_seconds(RouteLane.anisora, "anisora") == 10.0
    assert s.model_service_times["anisora"] == deque([10.0, 2.0])


def test_model_fallback_survives_a_rebuild_from_the_same_events() -> None:
    events = [done_event("seen-a", 9.0, lane=RouteLane.anisora), done_event("seen-b", 11.0, lane=RouteLane.anisora)]
    first, second = state(degraded=True), state(degraded=True)
    for target in (first, second):
        for event in events:
            fold_task_event(target, event)
    assert first.service_seconds(RouteLane.shared, "anisora") == second.service_seconds(
        RouteLane.shared, "anisora") == 10.0


def started_event(task_id: str) -> TaskEvent:
    return task_event(TaskStatus.processing, lane=RouteLane.shared, worker_id="w1",
                      task=task(TaskStatus.processing, id=task_id, model="anisora", created_at=T0, updated_at=T0))


def done_event(task_id: str, seconds: float, lane: RouteLane = RouteLane.shared,
               model: str = "anisora") -> TaskEvent:
    return task_event(TaskStatus.done, lane=lane, worker_id="w1", duration_seconds=seconds,
                      artifact_path="file:///out.mp4",
                      task=task(TaskStatus.done, id=task_id, model=model, created_at=T0, updated_at=T0))
