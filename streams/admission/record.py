"""One `tasks.requested` record in, its rendered `Decision` out, whatever the record holds.

The agent's entry into the core: bytes that do not parse get their rejection from
`decide_unparsed`, a request its verdict from `decide`, and a decision that raises (a bug in the
core) costs that one record a rejection, never the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from schemas import RejectionCode, SourceRecord
from streams.admission import core
from streams.admission.core.facts import RequestFacts, UnparsedFacts
from streams.admission.ingest import request_facts
from streams.admission.parsing import parse
from streams.admission.render import Decision, render

log = logging.getLogger(__name__)

#: The core's `decide`: what `decide_record` runs on a request that parsed.
Decider = Callable[[core.AdmissionState, RequestFacts, float], core.Verdict]


def decide_record(state: core.AdmissionState, payload: bytes | None, source: SourceRecord,
                  now: datetime, decider: Decider = core.decide) -> Decision:
    at = now.timestamp()
    try:
        parsed = parse(payload, source, now)
        if isinstance(parsed, UnparsedFacts):
            return render(core.decide_unparsed(state, parsed, at), now, None, source)
        return render(decider(state, request_facts(parsed, source, now), at), now, parsed, source)
    except Exception as exc:  # a bug must cost one rejection, never the agent
        log.exception("admission failed on %s", source)
        failed = UnparsedFacts(
            code=RejectionCode.malformed_request, title="Malformed request",
            detail=f"the request could not be admitted ({type(exc).__name__})", errors=(),
            task_id=None, model=None, model_name="unknown", task_type="unknown",
            origin=f"p{source.partition}o{source.offset}", position=(source.partition, source.offset),
        )
        return render(core.decide_unparsed(state, failed, at), now, None, source)
