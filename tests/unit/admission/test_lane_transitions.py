"""Admission's lanes are the seed `VideoExecutionLane` and change only through its transitions."""

from __future__ import annotations

import json
import logging
import zlib
from typing import Any

import pytest

from schemas import (
    Availability,
    FallbackReason,
    LaneEvent,
    LaneKey,
    LaneMode,
    RouteLane,
    VideoExecutionLane,
)
from schemas.errors import FramegateError, IllegalLaneTransition
from schemas.lane import AVAILABILITY_TRANSITIONS
from streams.admission.errors import SnapshotUnusable
from streams.admission.snapshot import decode_snapshot, encode_snapshot, state_document
from streams.admission.state import INITIAL_AVAILABILITY, AdmissionState, fold_lane_event
from tests import factories
from tests.admission_states import state
from tests.factories import T0, at, degrade


def lane_state(lane: RouteLane, when: float = 0.0, **fields: Any) -> LaneEvent:
    return factories.lane_state(lane, when=at(when), **fields)


def seed_lane(availability: Availability = Availability.ready) -> VideoExecutionLane:
    return VideoExecutionLane(lane_key=LaneKey.phr00t, mode=LaneMode.dedicated, warm=True,
                              availability=availability, updated_at=T0)


def test_the_seed_lane_refuses_an_illegal_availability_with_a_typed_error() -> None:
    with pytest.raises(IllegalLaneTransition, match="illegal lane transition unavailable -> cold") as caught:
        seed_lane(Availability.unavailable).with_availability(Availability.cold, at(1))
    assert isinstance(caught.value, FramegateError)
    assert seed_lane(Availability.unavailable).with_availability(Availability.ready, at(1)).availability \
        is Availability.ready


def test_the_seed_lane_refuses_degrading_without_a_reason_and_a_reason_when_dedicated() -> None:
    with pytest.raises(IllegalLaneTransition, match="fallback_reason is required"):
        seed_lane().with_mode(LaneMode.degraded_shared, None, at(1))
    with pytest.raises(IllegalLaneTransition, match="only set when mode=degraded_shared"):
        seed_lane().with_mode(LaneMode.dedicated, FallbackReason.manual, at(1))
    degraded = seed_lane().with_mode(LaneMode.degraded_shared, FallbackReason.quota, at(1))
    assert (degraded.mode, degraded.fallback_reason, degraded.updated_at) == (
        LaneMode.degraded_shared, FallbackReason.quota, at(1))
    restored = degraded.with_mode(LaneMode.dedicated, None, at(2))
    assert (restored.mode, restored.fallback_reason) == (LaneMode.dedicated, None)


def test_the_fold_counts_and_logs_a_refused_transition_and_changes_nothing(
        caplog: pytest.LogCaptureFixture) -> None:
    s = state()
    fold_lane_event(s, lane_state(RouteLane.phr00t, availability=Availability.unavailable))
    lane = s.lane(RouteLane.phr00t)
    before = (lane.availability, lane.warm, lane.mode, lane.fallback_reason, lane.updated_at)
    with caplog.at_level(logging.WARNING, logger="streams.admission.core.folds"):
        # All or nothing: the legal mode change in the same event is refused with it.
        refused = fold_lane_event(s, lane_state(RouteLane.phr00t, 1, availability=Availability.cold,
                                                mode=LaneMode.degraded_shared,
                                                fallback_reason=FallbackReason.capacity))
    assert refused is None
    assert s.counters.illegal_lane_transitions == 1
    assert (lane.availability, lane.warm, lane.mode, lane.fallback_reason, lane.updated_at) == before
    assert s.lane(RouteLane.phr00t).mode is LaneMode.dedicated
    assert "illegal lane transition unavailable -> cold" in caplog.text


def test_a_lane_has_no_seed_until_its_first_lane_state_event() -> None:
    s = state()
    assert not any(s.lane(lane).known for lane in RouteLane)
    assert s.lane(RouteLane.anisora).mode is LaneMode.dedicated
    assert s.lane(RouteLane.shared).mode is None  # where degraded lanes route to: no mode of its own
    assert s.lane(RouteLane.anisora).availability is None


def test_a_first_event_without_availability_starts_from_the_state_every_transition_leaves() -> None:
    assert AVAILABILITY_TRANSITIONS[INITIAL_AVAILABILITY] == frozenset(Availability)
    s = state()
    transition = fold_lane_event(s, degrade(RouteLane.anisora, when=T0))
    lane = s.lane(RouteLane.anisora)
    assert (lane.known, lane.mode, lane.fallback_reason, lane.availability, lane.warm) == (
        True, LaneMode.degraded_shared, FallbackReason.capacity, INITIAL_AVAILABILITY, False)
    assert transition is not None and transition.old_mode is LaneMode.dedicated


def test_the_shared_lane_follows_the_availability_transitions_without_a_mode() -> None:
    s = state()
    assert fold_lane_event(s, lane_state(RouteLane.shared, availability=Availability.unavailable, warm=True)) is None
    shared = s.lane(RouteLane.shared)
    assert shared.mode is None and shared.warm and shared.availability is Availability.unavailable
    fold_lane_event(s, lane_state(RouteLane.shared, 1, availability=Availability.cold))
    assert s.counters.illegal_lane_transitions == 1
    assert s.lane(RouteLane.shared).availability is Availability.unavailable


def test_seed_lanes_round_trip_through_a_snapshot() -> None:
    s = state()
    fold_lane_event(s, degrade(RouteLane.anisora, FallbackReason.manual, when=T0))
    fold_lane_event(s, lane_state(RouteLane.phr00t, 2, availability=Availability.cold, warm=False))
    fold_lane_event(s, lane_state(RouteLane.shared, 3, availability=Availability.ready, warm=True))
    restored, _ = decode_snapshot(encode_snapshot(s, {}), s.config)
    assert state_document(restored) == state_document(s)
    for lane in RouteLane:
        assert restored.lane(lane) == s.lane(lane)
    assert restored.lane(RouteLane.shared).mode is None
    assert restored.lane(RouteLane.anisora).mode is LaneMode.degraded_shared


def test_an_empty_state_round_trips_with_no_seed_lanes() -> None:
    s = AdmissionState()
    restored, _ = decode_snapshot(encode_snapshot(s, {}), s.config)
    assert not any(restored.lane(lane).known for lane in RouteLane)


def test_a_snapshot_from_before_the_seed_lanes_is_refused_and_rebuilt() -> None:
    doc = json.loads(zlib.decompress(encode_snapshot(state(), {})))
    doc["version"] = 1
    doc["state"]["lanes"] = {lane.value: {"mode": "dedicated", "fallback_reason": None, "availability": None,
                                          "warm": None, "updated_at": None, "workers": []}
                             for lane in RouteLane}
    with pytest.raises(SnapshotUnusable, match="version 1 is not"):
        decode_snapshot(zlib.compress(json.dumps(doc).encode()), AdmissionState().config)
