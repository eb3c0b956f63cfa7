"""Every validation rule of the seed data model, valid and invalid cases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas import (
    DEGRADED_QUEUE_POLICY,
    MODEL_CONSTRAINTS,
    Availability,
    DegradedQueuePolicy,
    FallbackReason,
    GenerationTask,
    LaneKey,
    LaneMode,
    MemoryDiagnosticEvent,
    MemoryEventType,
    ModelName,
    TaskStatus,
    VideoExecutionLane,
    VideoGenerationConstraints,
)
from schemas.envelope import utc_now
from schemas.tasks import can_transition
from tests import factories

# --- VideoExecutionLane ---------------------------------------------------------------------


def lane(**overrides: object) -> VideoExecutionLane:
    fields: dict[str, object] = {
        "lane_key": LaneKey.anisora,
        "mode": LaneMode.dedicated,
        "warm": True,
        "availability": Availability.ready,
        "updated_at": utc_now(),
    }
    fields.update(overrides)
    return VideoExecutionLane(**fields)  # type: ignore[arg-type]


def test_lane_dedicated_is_valid_without_reason() -> None:
    assert lane().fallback_reason is None


@pytest.mark.parametrize("reason", list(FallbackReason))
def test_lane_degraded_with_reason_is_valid(reason: FallbackReason) -> None:
    assert lane(mode=LaneMode.degraded_shared, fallback_reason=reason).fallback_reason is reason


def test_lane_degraded_requires_fallback_reason() -> None:
    with pytest.raises(ValidationError, match="fallback_reason is required"):
        lane(mode=LaneMode.degraded_shared)


def test_lane_dedicated_rejects_fallback_reason() -> None:
    with pytest.raises(ValidationError, match="only set when mode=degraded_shared"):
        lane(fallback_reason=FallbackReason.manual)


def test_dedicated_lane_maps_to_its_one_model_only() -> None:
    assert lane(served_models=(ModelName.anisora,)).served_models == (ModelName.anisora,)
    with pytest.raises(ValidationError, match="one heavy model only"):
        lane(served_models=(ModelName.anisora, ModelName.phr00t))
    with pytest.raises(ValidationError, match="one heavy model only"):
        lane(served_models=(ModelName.phr00t,))
    # degraded lanes hand their traffic to the shared lane, which serves several models
    degraded = lane(
        mode=LaneMode.degraded_shared,
        fallback_reason=FallbackReason.capacity,
        served_models=(ModelName.anisora, ModelName.phr00t),
    )
    assert len(degraded.served_models) == 2


def test_lane_rejects_unknown_enum_values() -> None:
    with pytest.raises(ValidationError):
        lane(lane_key="shared")
    with pytest.raises(ValidationError):
        lane(availability="warming")


@pytest.mark.parametrize(
    ("start", "end", "allowed"),
    [
        (Availability.ready, Availability.cold, True),
        (Availability.ready, Availability.unavailable, True),
        (Availability.cold, Availability.unavailable, True),
        (Availability.unavailable, Availability.ready, True),
        (Availability.cold, Availability.ready, True),
        (Availability.unavailable, Availability.cold, False),
    ],
)
def test_lane_state_transitions(start: Availability, end: Availability, allowed: bool) -> None:
    current = lane(availability=start)
    later = current.updated_at + timedelta(seconds=1)
    if allowed:
        assert current.with_availability(end, later).availability is end
    else:
        with pytest.raises(ValueError, match="illegal lane transition"):
            current.with_availability(end, later)


# --- DegradedQueuePolicy --------------------------------------------------------------------


def test_policy_fixed_values() -> None:
    assert DEGRADED_QUEUE_POLICY.max_depth == 25
    assert DEGRADED_QUEUE_POLICY.max_wait_seconds == 30
    assert DEGRADED_QUEUE_POLICY.overflow_code == "queue_overloaded"
    assert DegradedQueuePolicy(max_depth=25, max_wait_seconds=30) == DEGRADED_QUEUE_POLICY


@given(st.integers().filter(lambda n: n != 25))
def test_policy_refuses_any_other_depth(depth: int) -> None:
    with pytest.raises(ValidationError):
        DegradedQueuePolicy(max_depth=depth)  # type: ignore[arg-type]


@given(st.integers().filter(lambda n: n != 30))
def test_policy_refuses_any_other_wait(wait: int) -> None:
    with pytest.raises(ValidationError):
        DegradedQueuePolicy(max_wait_seconds=wait)  # type: ignore[arg-type]


def test_policy_refuses_other_code_and_string_numbers() -> None:
    with pytest.raises(ValidationError):
        DegradedQueuePolicy(overflow_code="busy")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        DegradedQueuePolicy(max_depth="25")  # type: ignore[arg-type]


def test_policy_is_immutable() -> None:
    with pytest.raises(ValidationError):
        DEGRADED_QUEUE_POLICY.max_depth = 26  # type: ignore[misc]
    with pytest.raises(ValidationError):
        DEGRADED_QUEUE_POLICY.max_wait_seconds = 60  # type: ignore[misc]


# --- VideoGenerationConstraints -------------------------------------------------------------


def test_model_constraints_are_the_seed_values() -> None:
    assert MODEL_CONSTRAINTS[ModelName.anisora].fixed_steps == 8
    assert MODEL_CONSTRAINTS[ModelName.anisora].fixed_cfg is None
    assert MODEL_CONSTRAINTS[ModelName.phr00t].fixed_steps == 4
    assert MODEL_CONSTRAINTS[ModelName.phr00t].fixed_cfg == 1.0


@pytest.mark.parametrize(
    ("model", "steps", "cfg"),
    [
        (ModelName.anisora, 4, None),
        (ModelName.phr00t, 8, 1.0),
        (ModelName.phr00t, 4, 5.0),
        (ModelName.phr00t, 4, None),
    ],
)
def test_constraints_cannot_be_redefined(model: ModelName, steps: int, cfg: float | None) -> None:
    with pytest.raises(ValidationError):
        VideoGenerationConstraints(model=model, fixed_steps=steps, fixed_cfg=cfg)


def test_constraints_are_immutable() -> None:
    with pytest.raises(ValidationError):
        MODEL_CONSTRAINTS[ModelName.phr00t].fixed_steps = 8  # type: ignore[misc]
    with pytest.raises(TypeError):
        MODEL_CONSTRAINTS[ModelName.phr00t] = MODEL_CONSTRAINTS[ModelName.anisora]  # type: ignore[index]


@given(st.integers(min_value=1, max_value=100).filter(lambda n: n != 8))
def test_anisora_steps_must_be_8(steps: int) -> None:
    with pytest.raises(ValidationError, match="anisora requires steps=8"):
        factories.request(ModelName.anisora, steps=steps)


@given(st.floats(min_value=0, max_value=20, allow_nan=False))
def test_anisora_cfg_is_free(cfg: float) -> None:
    assert factories.request(ModelName.anisora, cfg=cfg).cfg == cfg


@given(st.integers(min_value=1, max_value=100).filter(lambda n: n != 4))
def test_phr00t_steps_must_be_4(steps: int) -> None:
    with pytest.raises(ValidationError, match="phr00t requires steps=4"):
        factories.request(ModelName.phr00t, steps=steps)


@given(st.floats(min_value=0, max_value=20, allow_nan=False).filter(lambda c: c != 1.0))
def test_phr00t_cfg_must_be_1(cfg: float) -> None:
    with pytest.raises(ValidationError, match=r"phr00t requires cfg=1.0"):
        factories.request(ModelName.phr00t, cfg=cfg)


def test_phr00t_cfg_may_be_omitted_and_is_then_pinned() -> None:
    req = factories.request(ModelName.phr00t, cfg=None)
    assert MODEL_CONSTRAINTS[req.model].effective_cfg(req.cfg) == 1.0


# --- GenerationTask -------------------------------------------------------------------------


def test_task_failed_requires_error_msg() -> None:
    with pytest.raises(ValidationError, match="needs error_msg"):
        factories.task(TaskStatus.failed, error_msg=None)


def test_task_error_msg_only_on_failure() -> None:
    with pytest.raises(ValidationError, match="only set on failed"):
        factories.task(TaskStatus.done, error_msg="oops")


def test_task_status_enum_is_the_seed_one() -> None:
    assert [s.value for s in TaskStatus] == ["pending", "processing", "done", "failed"]
    with pytest.raises(ValidationError):
        factories.task(status="queued")


def test_task_updated_not_before_created() -> None:
    now = utc_now()
    with pytest.raises(ValidationError, match="before created_at"):
        GenerationTask(
            id="t",
            model="phr00t",
            type="image_to_video",
            status=TaskStatus.pending,
            created_at=now,
            updated_at=now - timedelta(seconds=1),
        )


def test_task_transitions() -> None:
    t = factories.task(TaskStatus.pending)
    later = t.created_at + timedelta(seconds=1)
    done = t.transition(TaskStatus.processing, later).transition(TaskStatus.done, later)
    assert done.status is TaskStatus.done
    with pytest.raises(ValueError, match="illegal transition"):
        done.transition(TaskStatus.processing, later)
    assert can_transition(None, TaskStatus.pending)
    assert not can_transition(None, TaskStatus.done)
    assert not can_transition(TaskStatus.failed, TaskStatus.done)


# --- MemoryDiagnosticEvent ------------------------------------------------------------------


def test_fallback_activated_requires_reason() -> None:
    with pytest.raises(ValidationError, match="reason is required for fallback_activated"):
        MemoryDiagnosticEvent(
            event_type=MemoryEventType.fallback_activated, lane_mode=LaneMode.degraded_shared
        )
    ok = MemoryDiagnosticEvent(
        event_type=MemoryEventType.fallback_activated,
        lane_mode=LaneMode.degraded_shared,
        reason=FallbackReason.quota,
    )
    assert ok.reason is FallbackReason.quota


@pytest.mark.parametrize(
    "kind",
    [
        MemoryEventType.memory_cleanup,
        MemoryEventType.memory_post_generation,
        MemoryEventType.queue_timeout,
        MemoryEventType.queue_overloaded,
    ],
)
def test_threshold_events_require_value(kind: MemoryEventType) -> None:
    with pytest.raises(ValidationError, match="value is required"):
        MemoryDiagnosticEvent(event_type=kind, lane_mode=LaneMode.dedicated)
    assert (
        MemoryDiagnosticEvent(event_type=kind, lane_mode=LaneMode.dedicated, value=25).value == 25
    )


def test_memory_event_timestamp_defaults_to_occurred_at() -> None:
    event = factories.memory_event()
    assert event.timestamp == event.occurred_at


def test_memory_event_reason_is_the_seed_enum() -> None:
    with pytest.raises(ValidationError):
        factories.memory_event(MemoryEventType.fallback_activated, reason="preempted")


def test_memory_event_value_must_not_be_negative_or_nan() -> None:
    with pytest.raises(ValidationError):
        factories.memory_event(value=-1.0)
    with pytest.raises(ValidationError):
        factories.memory_event(value=float("nan"))
