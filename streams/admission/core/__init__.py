"""The admission decision core: rules and folds over plain data.

Everything here takes and returns slotted dataclasses, contract enums and epoch-second floats;
no wire record (pydantic model) and no `datetime` enters. The edge (`streams.admission.ingest`
and `streams.admission.render`) turns wire bytes into facts and verdicts into wire bytes; the
live agent and the capacity simulator run this same core.

Entry points: `decide(state, facts, at) -> Verdict`, `apply(state, verdict)`, and the folds
`fold_lane`, `fold_task`, `fold_decision`.
"""

from streams.admission.core.config import AdmissionConfig, QueueLimits
from streams.admission.core.decide import apply, decide, decide_unparsed
from streams.admission.core.facts import (
    FieldProblem,
    HeartbeatFacts,
    LaneStateFacts,
    RequestFacts,
    TaskFacts,
    UnparsedFacts,
)
from streams.admission.core.folds import (
    fold_decision,
    fold_heartbeat,
    fold_lane,
    fold_lane_state,
    fold_task,
)
from streams.admission.core.state import AdmissionState, LaneTransition
from streams.admission.core.verdict import Step, Verdict

__all__ = [
    "AdmissionConfig",
    "AdmissionState",
    "FieldProblem",
    "HeartbeatFacts",
    "LaneStateFacts",
    "LaneTransition",
    "QueueLimits",
    "RequestFacts",
    "Step",
    "TaskFacts",
    "UnparsedFacts",
    "Verdict",
    "apply",
    "decide",
    "decide_unparsed",
    "fold_decision",
    "fold_heartbeat",
    "fold_lane",
    "fold_lane_state",
    "fold_task",
]
