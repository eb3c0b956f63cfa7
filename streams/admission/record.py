"""One `tasks.requested` record in, its `Decision` out, whatever the record holds.

The one entry into the pure core for the live agent and the capacity simulator alike: bytes
that do not parse get their rejection from `decide_unparsed`, a request its decision from
`decide`, and a decision that raises (a bug in the core) costs that one record a rejection,
never the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from schemas import (
    AdmissionDecision,
    DecisionOutcome,
    GenerationRequest,
    RejectionCode,
    SourceRecord,
)
from streams.admission.decide import Decision, decide, decide_unparsed
from streams.admission.events import event_id
from streams.admission.parsing import Rejected, parse
from streams.admission.state import AdmissionState

log = logging.getLogger(__name__)

#: `decide`'s signature: what `decide_record` runs on a request that parsed.
Decider = Callable[[AdmissionState, GenerationRequest, datetime, SourceRecord | None], Decision]


def decide_record(state: AdmissionState, payload: bytes | None, source: SourceRecord, now: datetime,
                  decider: Decider = decide) -> Decision:
    try:
        parsed = parse(payload, source, now)
        if isinstance(parsed, Rejected):
            return decide_unparsed(state, parsed.decision, parsed.task_event, now)
        return decider(state, parsed, now, source)
    except Exception as exc:  # a bug must cost one rejection, never the agent
        log.exception("admission failed on %s", source)
        return Decision(decision=AdmissionDecision(
            event_id=event_id(f"p{source.partition}o{source.offset}", "decision"),
            occurred_at=now,
            outcome=DecisionOutcome.rejected,
            task_id=None,
            status=422,
            code=RejectionCode.malformed_request,
            title="Malformed request",
            detail=f"the request could not be admitted ({type(exc).__name__})",
            source=source,
        ))
