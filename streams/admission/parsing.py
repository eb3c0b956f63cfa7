"""Bytes -> `GenerationRequest`, or the facts of a schema-valid 422 rejection.

Nothing raises out of `parse`: oversize, non-UTF-8, non-JSON, non-object and contract violations
all come back as `UnparsedFacts` carrying the source position (the rendered rejection names the
source topic/partition/offset).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from schemas import (
    GenerationRequest,
    ModelName,
    RejectionCode,
    SourceRecord,
)
from schemas.limits import MAX_ID_CHARS, MAX_TEXT_CHARS
from schemas.wire import PayloadTooLarge, decode
from streams.admission.core.facts import FieldProblem, UnparsedFacts
from streams.admission.events import origin_of

_TASK_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$")
MAX_ERRORS = 64
MAX_LOC_PARTS = 16


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def field_errors(error: ValidationError) -> list[FieldProblem]:
    found = []
    for item in error.errors(include_url=False, include_input=False)[:MAX_ERRORS]:
        loc = [part if isinstance(part, int) else _clip(str(part), MAX_ID_CHARS) for part in item["loc"]]
        found.append(FieldProblem(
            loc=tuple(loc[:MAX_LOC_PARTS]),
            msg=_clip(str(item["msg"]), MAX_TEXT_CHARS),
            type=_clip(str(item["type"]), MAX_ID_CHARS),
        ))
    return found


def _salvage(raw: Any) -> tuple[str | None, ModelName | None, str, str]:
    """Task id / model / type from an invalid object, when they are themselves well-formed."""
    if not isinstance(raw, dict):
        return None, None, "unknown", "unknown"
    task_id = raw.get("task_id")
    if not (isinstance(task_id, str) and 0 < len(task_id) <= MAX_ID_CHARS and _TASK_ID.match(task_id)):
        task_id = None
    model_raw = raw.get("model")
    model = ModelName(model_raw) if isinstance(model_raw, str) and model_raw in ModelName.__members__ else None
    type_raw = raw.get("type")
    type_ = type_raw if isinstance(type_raw, str) and 0 < len(type_raw) <= MAX_ID_CHARS else "image_to_video"
    return task_id, model, model.value if model else "unknown", type_


def parse(payload: bytes | None, source: SourceRecord, now: datetime) -> GenerationRequest | UnparsedFacts:
    origin = origin_of(source, None, now)

    def rejected(code: RejectionCode, title: str, detail: str, errors: list[FieldProblem],
                 raw: Any = None) -> UnparsedFacts:
        task_id, model, model_name, type_ = _salvage(raw)
        return UnparsedFacts(code=code, title=title, detail=_clip(detail, MAX_TEXT_CHARS),
                             errors=tuple(errors), task_id=task_id, model=model, model_name=model_name,
                             task_type=type_, origin=origin, position=(source.partition, source.offset))

    if payload is None:
        return rejected(RejectionCode.malformed_request, "Malformed request", "empty record (no value)", [])
    try:
        return decode(GenerationRequest, payload)
    except PayloadTooLarge as exc:
        return rejected(RejectionCode.malformed_request, "Malformed request", str(exc), [])
    except ValidationError as exc:
        error = exc
    try:
        raw = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        return rejected(RejectionCode.malformed_request, "Malformed request",
                        f"not a JSON document: {exc}", field_errors(error))
    if not isinstance(raw, dict):
        return rejected(RejectionCode.malformed_request, "Malformed request",
                        f"expected a JSON object, got {type(raw).__name__}", field_errors(error))
    errors = field_errors(error)
    return rejected(RejectionCode.validation_error, "Validation error",
                    f"{error.error_count()} field error(s): " + "; ".join(
                        f"{'.'.join(map(str, e.loc)) or '(request)'}: {e.msg}" for e in errors[:5]),
                    errors, raw)
