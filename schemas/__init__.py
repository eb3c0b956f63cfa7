"""framegate contracts: the wire messages, seed entities, fixed policies and topic names.

Imports nothing from ``streams`` or ``gpu_consumers``; both of those import from here.
"""

from schemas.constraints import MODEL_CONSTRAINTS, VideoGenerationConstraints
from schemas.decisions import AdmissionDecision, Degradation, FieldError, SourceRecord
from schemas.enums import (
    Availability,
    DecisionOutcome,
    EncodingProfile,
    FallbackReason,
    LaneEventType,
    LaneKey,
    LaneMode,
    MemoryEventType,
    ModelName,
    Priority,
    RejectionCode,
    RouteLane,
    TaskErrorCode,
    TaskStatus,
    TaskType,
)
from schemas.envelope import SCHEMA_VERSION, Envelope
from schemas.lane import HostPressure, LaneEvent, VideoExecutionLane
from schemas.memory import MemoryDiagnosticEvent
from schemas.policy import (
    DEGRADED_QUEUE_POLICY,
    WITHDRAWAL_POLICY,
    DegradedQueuePolicy,
    WithdrawalPolicy,
)
from schemas.requests import GenerationRequest
from schemas.tasks import GenerationTask, TaskEvent
from schemas.topics import Topics

__all__ = [
    "DEGRADED_QUEUE_POLICY",
    "MODEL_CONSTRAINTS",
    "SCHEMA_VERSION",
    "WITHDRAWAL_POLICY",
    "AdmissionDecision",
    "Availability",
    "DecisionOutcome",
    "Degradation",
    "DegradedQueuePolicy",
    "EncodingProfile",
    "Envelope",
    "FallbackReason",
    "FieldError",
    "GenerationRequest",
    "GenerationTask",
    "HostPressure",
    "LaneEvent",
    "LaneEventType",
    "LaneKey",
    "LaneMode",
    "MemoryDiagnosticEvent",
    "MemoryEventType",
    "ModelName",
    "Priority",
    "RejectionCode",
    "RouteLane",
    "SourceRecord",
    "TaskErrorCode",
    "TaskEvent",
    "TaskStatus",
    "TaskType",
    "Topics",
    "VideoExecutionLane",
    "VideoGenerationConstraints",
    "WithdrawalPolicy",
]
