"""A remembered verdict as a row of plain values, and back: how snapshots store the dedup memory.

A row holds what a re-send's answer and the conflict check read (`Verdict.answer_key` and the
event id), nothing of the request. A restored state keeps each row packed (its JSON text) until
a re-send of that task asks for its answer: a start-up then reads a snapshot of many tasks
without building every verdict, and a later snapshot writes the same text again.
"""

from __future__ import annotations

import json
from typing import Any

from schemas.enums import DecisionOutcome, LaneMode, ModelName, Priority, RejectionCode, RouteLane
from schemas.event_ids import derived_event_id
from streams.admission.core.facts import FieldProblem
from streams.admission.core.verdict import Step, Verdict

_OUTCOMES = {m.value: m for m in DecisionOutcome}
_MODELS = {m.value: m for m in ModelName}
_PRIORITIES = {m.value: m for m in Priority}
_LANES = {m.value: m for m in RouteLane}
_MODES = {m.value: m for m in LaneMode}
_CODES = {m.value: m for m in RejectionCode}


def event_id_text(v: Verdict) -> str:
    """The verdict's event id as text (read from the log, else derived from its origin)."""
    return v.event_id if v.event_id is not None else str(derived_event_id(v.origin, v.kind))


def _text(member: Any) -> str | None:
    return member.value if member is not None else None


def verdict_row(v: Verdict) -> list[Any]:
    assert v.task_id is not None
    return [
        v.task_id, event_id_text(v), v.kind, v.at, v.outcome.value, _text(v.model), _text(v.priority),
        _text(v.lane), _text(v.mode), v.queue_depth, v.stated_wait, v.time_to_ready_s,
        [[s.parameter, s.requested, s.granted] for s in v.steps] if v.steps else 0,
        _text(v.code), v.title, v.detail, v.retry_after_s, v.reason,
        [[list(e.loc), e.msg, e.type] for e in v.errors] if v.errors else 0,
    ]


def pack(v: Verdict) -> str:
    return json.dumps(verdict_row(v), separators=(",", ":"))


def verdict_from_row(row: list[Any]) -> Verdict:
    (task_id, event_id, kind, at, outcome, model, priority, lane, mode, depth, wait, ttr, steps, code, title,
     detail, retry_after, reason, errors) = row
    return Verdict(
        outcome=_OUTCOMES[outcome], task_id=task_id, at=float(at), origin="", kind=kind,
        model=_MODELS[model] if model is not None else None,
        priority=_PRIORITIES[priority] if priority is not None else None,
        lane=_LANES[lane] if lane is not None else None, mode=_MODES[mode] if mode is not None else None,
        queue_depth=depth, wait_s=wait, time_to_ready_s=ttr,
        steps=tuple(Step(*s) for s in steps) if steps else (),
        code=_CODES[code] if code is not None else None, title=title, detail=detail,
        retry_after_s=retry_after, reason=reason,
        errors=tuple(FieldProblem(tuple(loc), msg, type_) for loc, msg, type_ in errors) if errors else (),
        model_name=model or "unknown", event_id=event_id,
    )


def unpack(text: str) -> Verdict:
    return verdict_from_row(json.loads(text))
