"""The core's state at the wire edge: its config from `Settings`, and the folds of wire records.

The state itself (plain data) and its folds live in `streams.admission.core`; the follower, the
operator commands and tests that hold wire records fold them through these.
"""

from __future__ import annotations

from schemas import AdmissionDecision, DegradedQueuePolicy, LaneEvent, RejectionCode, TaskEvent
from schemas.settings import Settings
from streams.admission import core
from streams.admission.core.config import MAX_EARLY_EVENTS, AdmissionConfig, QueueLimits
from streams.admission.core.state import (
    INITIAL_AVAILABILITY,
    AdmissionState,
    DecidedOffsets,
    FoldCounters,
    LaneHealth,
    LaneState,
    LaneTransition,
    TaskRecord,
    WorkerSignal,
)
from streams.admission.ingest import decision_verdict, lane_facts, task_facts

__all__ = [
    "INITIAL_AVAILABILITY",
    "MAX_EARLY_EVENTS",
    "AdmissionConfig",
    "AdmissionState",
    "DecidedOffsets",
    "FoldCounters",
    "LaneHealth",
    "LaneState",
    "LaneTransition",
    "TaskRecord",
    "WorkerSignal",
    "config_from_settings",
    "fold_decision",
    "fold_lane_event",
    "fold_task_event",
    "queue_limits",
]


def queue_limits(policy: DegradedQueuePolicy) -> QueueLimits:
    return QueueLimits(max_depth=policy.max_depth, max_wait_s=float(policy.max_wait_seconds),
                       overflow_code=RejectionCode(policy.overflow_code))


def config_from_settings(settings: Settings) -> AdmissionConfig:
    return AdmissionConfig(
        heartbeat_stale_s=settings.admission_heartbeat_stale_s,
        critical_producers=frozenset(settings.admission_critical_producers),
        cold_start_s=settings.admission_cold_start_s,
        default_service_s=settings.admission_default_service_s,
        service_window=settings.admission_service_window,
        retry_after_s=settings.admission_retry_after_s,
        dedup_retention_s=settings.admission_dedup_retention_h * 3600.0,
        input_image_schemes=frozenset(settings.admission_input_image_schemes) | {""},
        events_task_topic=settings.topics.events_task,
        events_lane_topic=settings.topics.events_lane,
    )


def fold_lane_event(state: AdmissionState, event: LaneEvent) -> LaneTransition | None:
    """Apply one `events.lane` record; returns the routing-mode transition it caused, if any."""
    facts = lane_facts(event)
    return core.fold_lane(state, facts) if facts is not None else None


def fold_task_event(state: AdmissionState, event: TaskEvent) -> bool:
    """Apply one `events.task` record; False (and counted) when it breaks `TRANSITIONS`."""
    return core.fold_task(state, task_facts(event))


def fold_decision(state: AdmissionState, decision: AdmissionDecision) -> None:
    """Apply one admission decision read back from the logs."""
    core.fold_decision(state, decision_verdict(decision))
