"""Pure decisions of the GPU half: boundary checks, the OOM step-down, queue timeouts, lane status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpu_consumers.heartbeat import heartbeat_event
from gpu_consumers.job_checks import job_problems
from gpu_consumers.lane_status import LaneStatus
from gpu_consumers.memory_guard import load_allowed
from gpu_consumers.oom import ElasticParameter, RetryStep, is_oom, retry_plan, step_down
from gpu_consumers.queue_wait import expired
from schemas import (
    AdmissionDecision,
    Availability,
    GenerationRequest,
    LaneMode,
    ModelName,
    Priority,
    RouteLane,
    TaskType,
)
from tests import factories

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def request(model: ModelName = ModelName.phr00t, **fields: object) -> GenerationRequest:
    return factories.request(model, **{"task_id": "t-1", "type": TaskType.text_to_video, "input_image": None, **fields})


def decision(mode: LaneMode, occurred_at: datetime) -> AdmissionDecision:
    return factories.accepted(request(), lane=RouteLane.shared, lane_mode=mode, occurred_at=occurred_at)


def test_boundary_refuses_instead_of_rounding() -> None:
    # model_construct skips the schema validator: what a stepped-down or foreign item could be.
    bad = GenerationRequest.model_construct(**{**request().model_dump(), "num_frames": 10, "width": 40, "steps": 6})
    problems = job_problems(bad)
    assert any("num_frames=10" in p for p in problems)
    assert any("width=40" in p for p in problems)
    assert any("steps=4" in p for p in problems)
    assert job_problems(request()) == []
    assert job_problems(request(), ModelName.anisora) == ["job is for phr00t but the loaded model is anisora"]
    cfg = GenerationRequest.model_construct(**{**request().model_dump(), "cfg": 3.5})
    assert any("cfg=1.0" in p for p in job_problems(cfg))


def test_step_down_ladder() -> None:
    first = step_down(request(width=1280, height=720))
    assert first is not None and (first[0].width, first[0].height) == (848, 480)
    assert first[1].parameter is ElasticParameter.resolution and first[1].granted == "848x480"
    floor = step_down(request(width=16, height=16, num_frames=9))
    assert floor is not None and floor[0].num_frames == 5
    assert floor[1] == RetryStep(ElasticParameter.num_frames, "9", "5")
    assert step_down(request(width=16, height=16, num_frames=1)) is None
    assert step_down(request(priority=Priority.critical)) is None
    assert retry_plan(request(), retries_done=1) is None


@given(
    width=st.integers(1, 120).map(lambda k: k * 16),
    height=st.integers(1, 120).map(lambda k: k * 16),
    k=st.integers(0, 60),
    priority=st.sampled_from([Priority.standard, Priority.background]),
)
def test_step_down_is_smaller_and_still_valid(width: int, height: int, k: int, priority: Priority) -> None:
    original = request(width=width, height=height, num_frames=4 * k + 1, priority=priority)
    plan = step_down(original)
    if plan is None:
        assert (width, height, k) == (16, 16, 0)
        return
    smaller, _ = plan
    assert job_problems(smaller) == []
    assert smaller.width * smaller.height * smaller.num_frames < width * height * original.num_frames
    assert smaller.priority is priority and smaller.steps == original.steps


def test_is_oom_recognises_torch_and_allocator_errors() -> None:
    import torch

    assert is_oom(torch.OutOfMemoryError("x"))
    assert is_oom(RuntimeError("CUDA error: out of memory"))
    assert not is_oom(ValueError("out of memory"))
    assert not is_oom(RuntimeError("shape mismatch"))


@pytest.mark.parametrize(
    ("mode", "age", "dropped"),
    [
        (LaneMode.degraded_shared, 30.0, False),
        (LaneMode.degraded_shared, 30.5, True),
        (LaneMode.dedicated, 3600.0, False),
    ],
)
def test_queue_timeout_only_in_degraded_mode_past_30s(mode: LaneMode, age: float, dropped: bool) -> None:
    waited = expired(decision(mode, T0), T0 + timedelta(seconds=age))
    assert (waited is not None) is dropped
    if dropped:
        assert waited == pytest.approx(age)


def test_clock_skew_never_gives_negative_waits() -> None:
    assert expired(decision(LaneMode.degraded_shared, T0 + timedelta(seconds=5)), T0) is None


def test_load_allowed_needs_need_plus_reserve() -> None:
    assert load_allowed(free_gib=10, need_gib=8, reserve_gib=2)
    assert not load_allowed(free_gib=9.99, need_gib=8, reserve_gib=2)


def test_repeated_load_failures_make_the_lane_unavailable_and_a_load_recovers_it() -> None:
    status = LaneStatus(max_load_failures=2)
    assert status.view().availability is Availability.cold
    status.load_failed("boom")
    assert status.view().availability is Availability.cold
    status.load_failed("boom")
    view = status.view()
    assert view.availability is Availability.unavailable and view.consecutive_load_failures == 2
    status.loaded(ModelName.anisora)
    assert status.view().availability is Availability.ready and status.view().warm


def test_heartbeat_is_schema_valid_for_every_lane() -> None:
    status = LaneStatus(max_load_failures=3)
    status.load_failed("x" * 500)
    host = factories.host(load1=0.5, cpu_cores=2, gpu_sessions_in_use=1, gpu_session_quota=1, artifact_write_ms=None)
    for lane in RouteLane:
        event = heartbeat_event(lane, "w-1", status.view(), host, T0)
        assert event.mode is None and event.availability is Availability.cold
        assert event.note is not None and len(event.note) <= 128
        assert event.gpu_sessions_quota_exhausted is True


def test_only_a_profile_that_needs_single_record_batches_turns_batching_off() -> None:
    # The worker module is the Kafka client's: skipped where only the GPU wheels are installed
    # (bench/gpu_verify.py's lane-test run on a lent GPU machine).
    pytest.importorskip("aiokafka")
    from gpu_consumers.worker import producer_config
    from schemas.broker_profile import BROKER_PROFILES

    tansu, kafka = BROKER_PROFILES["tansu"], BROKER_PROFILES["kafka"]
    assert tansu.single_record_changelog_batches and producer_config(tansu, "h:1")["linger_ms"] == 0
    assert not kafka.single_record_changelog_batches
    assert producer_config(kafka, "h:1")["linger_ms"] == kafka.producer_kwargs("h:1")["linger_ms"] > 0
