"""The core's rules at the wire edge: a `GenerationRequest` in, a rendered `Decision` out.

`decide` reads the request into facts, runs the core's `decide` on them and renders the verdict;
`apply` folds the verdict back. Tests and tools that hold wire requests use these; the agent goes
through `record.decide_record`, the simulator straight to `streams.admission.core`.
"""

from __future__ import annotations

from datetime import datetime

from schemas import GenerationRequest, SourceRecord
from streams.admission import core
from streams.admission.ingest import request_facts
from streams.admission.render import Decision, render

__all__ = ["Decision", "apply", "decide"]


def decide(state: core.AdmissionState, request: GenerationRequest, now: datetime,
           source: SourceRecord | None = None) -> Decision:
    verdict = core.decide(state, request_facts(request, source, now), now.timestamp())
    return render(verdict, now, request, source)


def apply(state: core.AdmissionState, outcome: Decision) -> None:
    """Fold a decision (its expiries and preemption too) back into the state."""
    core.apply(state, outcome.verdict)
