"""Wire messages: request shape rules, decision/event shapes, size limits, JSON round trips."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from schemas import (
    AdmissionDecision,
    DecisionOutcome,
    GenerationRequest,
    LaneEvent,
    LaneEventType,
    LaneMode,
    MemoryDiagnosticEvent,
    ModelName,
    Priority,
    RejectionCode,
    RouteLane,
    TaskEvent,
    TaskStatus,
)
from schemas.limits import MAX_PAYLOAD_BYTES, MAX_PROMPT_CHARS
from schemas.wire import PayloadTooLarge, decode, encode
from tests import factories


def as_json(**overrides: Any) -> str:
    body = json.loads(factories.request(ModelName.phr00t).to_wire())
    body.update(overrides)
    return json.dumps(body, separators=(",", ":"))


# --- GenerationRequest ----------------------------------------------------------------------


@given(
    st.integers(min_value=1, max_value=120).map(lambda k: 16 * k),
    st.integers(min_value=1, max_value=120).map(lambda k: 16 * k),
    st.integers(min_value=0, max_value=60).map(lambda k: 4 * k + 1),
    st.integers(min_value=1, max_value=60),
)
def test_valid_shapes_are_accepted(width: int, height: int, frames: int, fps: int) -> None:
    req = factories.request(ModelName.phr00t, width=width, height=height, num_frames=frames, fps=fps)
    assert (req.width, req.height, req.num_frames) == (width, height, frames)


@given(st.integers(min_value=16, max_value=1920).filter(lambda n: n % 16))
def test_sides_must_be_multiples_of_16(side: int) -> None:
    with pytest.raises(ValidationError, match="multiple of 16"):
        factories.request(ModelName.phr00t, width=side)
    with pytest.raises(ValidationError, match="multiple of 16"):
        factories.request(ModelName.phr00t, height=side)


@given(st.integers(min_value=1, max_value=241).filter(lambda n: (n - 1) % 4))
def test_num_frames_must_be_4k_plus_1(frames: int) -> None:
    with pytest.raises(ValidationError, match="4k\\+1"):
        factories.request(ModelName.phr00t, num_frames=frames)


@given(st.integers().filter(lambda n: not 1 <= n <= 60))
def test_fps_range(fps: int) -> None:
    with pytest.raises(ValidationError):
        factories.request(ModelName.phr00t, fps=fps)


@given(st.integers(max_value=15))
def test_negative_or_tiny_sizes_refused(side: int) -> None:
    with pytest.raises(ValidationError):
        factories.request(ModelName.phr00t, width=side)


@pytest.mark.parametrize(
    "overrides",
    [
        {"steps": "4"},
        {"steps": 4.5},
        {"width": "832"},
        {"width": True},
        {"num_frames": 81.5},
        {"cfg": "1.0"},
        {"model": "sora"},
        {"priority": "urgent"},
        {"prompt": 42},
        {"extra_field": 1},
        {"submitted_at": "yesterday"},
        {"submitted_at": "2026-01-01T00:00:00"},  # naive: no offset
    ],
)
def test_wrong_types_and_unknowns_are_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        GenerationRequest.model_validate_json(as_json(**overrides))


def test_integral_numbers_are_integers() -> None:
    """JSON Schema `integer` admits a number with a zero fraction; so does the server."""
    request = GenerationRequest.model_validate_json(as_json(steps=4.0, num_frames=81.0))
    assert (request.steps, request.num_frames) == (4, 81) and type(request.steps) is int


def test_nan_and_infinity_are_refused() -> None:
    for raw in ("NaN", "Infinity", "-Infinity"):
        body = as_json().replace('"cfg":1.0', f'"cfg":{raw}')
        assert raw in body
        with pytest.raises(ValidationError):
            GenerationRequest.model_validate_json(body)


def test_image_to_video_needs_an_input_image() -> None:
    with pytest.raises(ValidationError, match="input_image is required"):
        factories.request(ModelName.phr00t, input_image=None)
    assert factories.request(ModelName.phr00t, type="text_to_video", input_image=None).input_image is None


def test_free_text_size_limits() -> None:
    factories.request(ModelName.phr00t, prompt="x" * MAX_PROMPT_CHARS)
    with pytest.raises(ValidationError):
        factories.request(ModelName.phr00t, prompt="x" * (MAX_PROMPT_CHARS + 1))
    with pytest.raises(ValidationError):
        factories.request(ModelName.phr00t, task_id="x" * 129)
    with pytest.raises(ValidationError):
        factories.request(ModelName.phr00t, task_id="has space")
    with pytest.raises(ValidationError):
        factories.request(ModelName.phr00t, input_image="f" * 1025)


def test_payload_size_limit_before_parsing() -> None:
    with pytest.raises(PayloadTooLarge):
        decode(GenerationRequest, b"{" + b" " * MAX_PAYLOAD_BYTES + b"}")


def test_violations_are_reported_at_once() -> None:
    with pytest.raises(ValidationError) as info:
        factories.request(ModelName.phr00t, steps=8, cfg=3.0, width=100)
    found = {err["loc"]: (err["type"], err["msg"]) for err in info.value.errors()}
    assert found == {
        ("steps",): ("model_constraint", "phr00t requires steps=4, got 8"),
        ("cfg",): ("model_constraint", "phr00t requires cfg=1.0, got 3.0"),
        ("width",): ("multiple_of", "Input should be a multiple of 16"),
    }


# --- AdmissionDecision ----------------------------------------------------------------------


def test_accepted_decision_needs_lane_and_request() -> None:
    with pytest.raises(ValidationError, match="accepted decision needs"):
        factories.accepted(lane=None)
    with pytest.raises(ValidationError, match="no problem code"):
        factories.accepted(code=RejectionCode.queue_overloaded, status=503)


def test_rejected_decision_needs_problem_fields() -> None:
    with pytest.raises(ValidationError, match="needs status, code and title"):
        factories.rejected(title=None)
    with pytest.raises(ValidationError, match="implies status 503"):
        factories.rejected(status=422)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (RejectionCode.malformed_request, 422),
        (RejectionCode.validation_error, 422),
        (RejectionCode.priority_not_authorised, 403),
        (RejectionCode.queue_overloaded, 503),
        (RejectionCode.gpu_quota_exhausted, 503),
        (RejectionCode.cpu_starvation, 503),
        (RejectionCode.io_saturation, 503),
        (RejectionCode.lane_unavailable, 503),
    ],
)
def test_each_code_has_one_status(code: RejectionCode, status: int) -> None:
    assert code.status == status
    assert factories.rejected(code, status=status).status == status


def test_unparseable_record_carries_its_source() -> None:
    with pytest.raises(ValidationError, match="source topic/partition/offset"):
        factories.rejected(RejectionCode.malformed_request, status=422, task_id=None)
    kept = factories.rejected(
        RejectionCode.malformed_request,
        status=422,
        task_id=None,
        source={"topic": "framegate.tasks.requested", "partition": 2, "offset": 41},
    )
    assert kept.source is not None and kept.source.offset == 41


# --- TaskEvent / LaneEvent ------------------------------------------------------------------


def test_failed_task_event_needs_error_code() -> None:
    with pytest.raises(ValidationError, match="needs error_code"):
        factories.task_event(TaskStatus.failed, error_code=None)


def test_done_task_event_needs_artifact() -> None:
    with pytest.raises(ValidationError, match="needs artifact_path"):
        factories.task_event(TaskStatus.done, artifact_path=None)


def test_heartbeat_needs_worker_state_and_host() -> None:
    with pytest.raises(ValidationError, match="heartbeat needs"):
        factories.heartbeat(host=None)
    with pytest.raises(ValidationError, match="heartbeat needs"):
        factories.heartbeat(worker_id=None)


def test_lane_state_event_rules() -> None:
    with pytest.raises(ValidationError, match="fallback_reason is required"):
        factories.degrade(fallback_reason=None)
    with pytest.raises(ValidationError, match="shared lane has no routing mode"):
        factories.degrade(RouteLane.shared)
    with pytest.raises(ValidationError, match="changes mode or availability"):
        LaneEvent(event_type=LaneEventType.lane_state, lane_key=RouteLane.anisora)
    restore = LaneEvent(
        event_type=LaneEventType.lane_state, lane_key=RouteLane.anisora, mode=LaneMode.dedicated
    )
    assert restore.fallback_reason is None


def test_priority_order() -> None:
    assert sorted(Priority, key=lambda p: p.rank) == [
        Priority.critical,
        Priority.standard,
        Priority.background,
    ]


# --- round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize("message", factories.one_of_each(), ids=lambda m: type(m).__name__)
def test_json_round_trip(message: BaseModel) -> None:
    again = decode(type(message), encode(message))
    assert again == message
    assert encode(again) == encode(message)


@settings(max_examples=50)
@given(
    model=st.sampled_from(list(ModelName)),
    priority=st.sampled_from(list(Priority)),
    prompt=st.text(max_size=200),
    seed=st.none() | st.integers(min_value=0, max_value=2**32 - 1),
)
def test_request_round_trip_property(
    model: ModelName, priority: Priority, prompt: str, seed: int | None
) -> None:
    req = factories.request(model, priority=priority, prompt=prompt, seed=seed)
    assert decode(GenerationRequest, encode(req)) == req


def test_decision_round_trip_keeps_outcome_and_nested_request() -> None:
    decision = factories.accepted()
    again = decode(AdmissionDecision, decision.to_wire())
    assert again.outcome is DecisionOutcome.accepted
    assert again.request == decision.request
    # whole events, not just their type: a field the wire dropped or changed fails here
    event, memory = factories.task_event(TaskStatus.done), factories.memory_event()
    assert decode(TaskEvent, event.to_wire()) == event
    assert decode(MemoryDiagnosticEvent, memory.to_wire()) == memory
