"""A remembered verdict as a row of plain values, and back: what the dedup memory keeps of each
task's own decision, and how snapshots store it.

A row holds what a re-send's answer and the conflict check read (`Verdict.answer_key` and the
event id), nothing of the request, the trace or the read positions: the memory holds a row per
task for the whole dedup window, so a row is one tuple, and a re-send builds its verdict again.

A snapshot stores each row as JSON text. A restored state keeps that text until a re-send or a
conflicting decision of the task reads it: a start-up then reads a snapshot of many tasks
without building every row, and a later snapshot writes the same text again.
"""

from __future__ import annotations

import json
from typing import Any

from schemas.enums import DecisionOutcome, LaneMode, ModelName, Priority, RejectionCode, RouteLane
from schemas.event_ids import derived_event_id
from streams.admission.core.facts import FieldProblem
from streams.admission.core.verdict import Step, Verdict

#: (task_id, event_id, origin, kind, at, outcome, model, priority, lane, mode, queue_depth, wait_s,
#: time_to_ready_s, steps, code, title, detail, retry_after_s, reason, errors). `event_id` is
#: None when it derives from `origin` and `kind`; `wait_s` is unrounded.
AnswerRow = tuple[
    str, str | None, str, str, float, DecisionOutcome, ModelName | None, Priority | None,
    RouteLane | None, LaneMode | None, int | None, float | None, float | None, tuple[Step, ...],
    RejectionCode | None, str | None, str | None, int | None, str | None, tuple[FieldProblem, ...],
]

_OUTCOMES = {m.value: m for m in DecisionOutcome}
_MODELS = {m.value: m for m in ModelName}
_PRIORITIES = {m.value: m for m in Priority}
_LANES = {m.value: m for m in RouteLane}
_MODES = {m.value: m for m in LaneMode}
_CODES = {m.value: m for m in RejectionCode}


def event_id_text(v: Verdict) -> str:
    """The verdict's event id as text (read from the log, else derived from its origin)."""
    return v.event_id if v.event_id is not None else str(derived_event_id(v.origin, v.kind))


def answer_row(v: Verdict) -> AnswerRow:
    """The row of a task's own verdict (`v.task_id` is set)."""
    task_id = v.task_id
    assert task_id is not None
    return (task_id, v.event_id, v.origin, v.kind, v.at, v.outcome, v.model, v.priority, v.lane,
            v.mode, v.queue_depth, v.wait_s, v.time_to_ready_s, v.steps, v.code, v.title, v.detail,
            v.retry_after_s, v.reason, v.errors)


def row_verdict(row: AnswerRow) -> Verdict:
    """The verdict a row remembers, as a re-send's answer reads it."""
    (task_id, event_id, origin, kind, at, outcome, model, priority, lane, mode, depth, wait, ttr,
     steps, code, title, detail, retry_after, reason, errors) = row
    return Verdict(outcome, task_id, at, origin, kind, model, priority, lane, mode, depth, wait, ttr,
                   steps, None, code, title, detail, retry_after, reason, errors,
                   model_name=model.value if model is not None else "unknown", event_id=event_id)


def _text(member: Any) -> str | None:
    return member.value if member is not None else None


def _json_row(row: AnswerRow) -> list[Any]:
    (task_id, event_id, origin, kind, at, outcome, model, priority, lane, mode, depth, wait, ttr,
     steps, code, title, detail, retry_after, reason, errors) = row
    return [
        task_id, event_id if event_id is not None else str(derived_event_id(origin, kind)), kind, at,
        outcome.value, _text(model), _text(priority), _text(lane), _text(mode), depth,
        round(wait, 3) if wait is not None else None, ttr,
        [[s.parameter, s.requested, s.granted] for s in steps] if steps else 0,
        _text(code), title, detail, retry_after, reason,
        [[list(e.loc), e.msg, e.type] for e in errors] if errors else 0,
    ]


def _from_json(row: list[Any]) -> AnswerRow:
    (task_id, event_id, kind, at, outcome, model, priority, lane, mode, depth, wait, ttr, steps, code, title,
     detail, retry_after, reason, errors) = row
    return (
        task_id, event_id, "", kind, float(at), _OUTCOMES[outcome],
        _MODELS[model] if model is not None else None,
        _PRIORITIES[priority] if priority is not None else None,
        _LANES[lane] if lane is not None else None, _MODES[mode] if mode is not None else None,
        depth, wait, ttr, tuple(Step(*s) for s in steps) if steps else (),
        _CODES[code] if code is not None else None, title, detail, retry_after, reason,
        tuple(FieldProblem(tuple(loc), msg, type_) for loc, msg, type_ in errors) if errors else (),
    )


def verdict_row(v: Verdict) -> list[Any]:
    """A verdict's row as a snapshot stores it (enum values, the event id as text, the wait as
    stated)."""
    return _json_row(answer_row(v))


def pack_row(row: AnswerRow) -> str:
    return json.dumps(_json_row(row), separators=(",", ":"))


def unpack_row(text: str) -> AnswerRow:
    return _from_json(json.loads(text))
