"""The core's knobs: built from `Settings` at the edge (`streams.admission.config`)."""

from __future__ import annotations

from dataclasses import dataclass

from schemas import admission_defaults as defaults
from schemas.enums import RejectionCode
from schemas.policy import DEGRADED_QUEUE_POLICY, WITHDRAWAL_POLICY


@dataclass(frozen=True, slots=True)
class QueueLimits:
    """A degraded queue's policy as plain numbers (the seed's `DegradedQueuePolicy`)."""

    max_depth: int
    max_wait_s: float
    overflow_code: RejectionCode


#: The seed's fixed degraded queue policy (25 / 30 s / `queue_overloaded`).
CONTRACT_QUEUE = QueueLimits(
    max_depth=DEGRADED_QUEUE_POLICY.max_depth,
    max_wait_s=float(DEGRADED_QUEUE_POLICY.max_wait_seconds),
    overflow_code=RejectionCode(DEGRADED_QUEUE_POLICY.overflow_code),
)

#: Task events seen before their task's decision (only possible while catching up two logs at
#: once) are remembered up to this many, oldest forgotten first.
MAX_EARLY_EVENTS = 100_000


@dataclass(frozen=True, slots=True)
class AdmissionConfig:
    heartbeat_stale_s: float = defaults.HEARTBEAT_STALE_S
    critical_producers: frozenset[str] = frozenset()
    cold_start_s: float = defaults.COLD_START_S
    #: Service time assumed before any `done` event was observed; 0 = unknown, no wait check.
    default_service_s: float = defaults.DEFAULT_SERVICE_S
    service_window: int = defaults.SERVICE_WINDOW
    cpu_starvation_factor: float = WITHDRAWAL_POLICY.cpu_load_per_core
    cpu_starvation_s: float = float(WITHDRAWAL_POLICY.cpu_starvation_seconds)
    io_saturation_ms: float = float(WITHDRAWAL_POLICY.io_saturation_ms)
    retry_after_s: int = defaults.RETRY_AFTER_S
    #: How long a decided task id is remembered (log time): a re-send within it gets the same
    #: answer, a re-send after it is decided afresh.
    dedup_retention_s: float = defaults.DEDUP_RETENTION_H * 3600.0
    #: URI schemes of `input_image` the lane workers can read ("" = a plain path).
    input_image_schemes: frozenset[str] = frozenset({"file", ""})
    #: The seed's fixed degraded queue policy. Only the capacity simulator's explicit what-if
    #: runs pass another one, and label themselves outside the contract.
    queue_policy: QueueLimits = CONTRACT_QUEUE
    #: The logs each decision records its folded position in (`folded_upto` keys); empty: not
    #: recorded (a state that follows no logs, as in tests and the simulator).
    events_task_topic: str = ""
    events_lane_topic: str = ""
    #: Task events kept while their decision has not been read (oldest dropped past this).
    max_early_events: int = MAX_EARLY_EVENTS
