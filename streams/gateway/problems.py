"""RFC 9457 problem documents (`application/problem+json`) for every refusal the gateway gives.

Admission's rejections are mirrored field by field; the gateway's own refusals (auth, broker
down, decision not in time) use the same shape with their own `code`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from schemas.decisions import AdmissionDecision, FieldError
from schemas.enums import LaneMode, RejectionCode, RouteLane
from schemas.limits import MAX_TEXT_CHARS
from streams.gateway.problem_catalog import type_uri

PROBLEM_MEDIA_TYPE = "application/problem+json"


class GatewayCode(StrEnum):
    """Refusals that come from the gateway itself, not from an admission decision."""

    unauthorized = "unauthorized"
    forbidden = "forbidden"
    not_found = "not_found"
    method_not_allowed = "method_not_allowed"
    unsupported_media_type = "unsupported_media_type"
    broker_unavailable = "broker_unavailable"
    decision_timeout = "decision_timeout"
    gateway_overloaded = "gateway_overloaded"
    internal_error = "internal_error"
    invalid_http_request = "invalid_http_request"
    request_line_too_long = "request_line_too_long"
    request_headers_too_large = "request_headers_too_large"


#: Every `code` a problem can carry: admission's rejection codes and the gateway's own.
PROBLEM_CODES: tuple[str, ...] = tuple(c.value for c in RejectionCode) + tuple(
    c.value for c in GatewayCode
)


class Problem(BaseModel):
    """An RFC 9457 problem document with framegate's extension members."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"additionalProperties": False})

    type: str = Field(
        description="URI reference of the problem type: `/problems#<code>`, a section of the "
        "page the gateway serves at `GET /problems`."
    )
    title: str
    status: int = Field(ge=400, le=599)
    detail: str | None = None
    instance: str | None = Field(default=None, description="The request path.")
    code: str = Field(json_schema_extra={"enum": list(PROBLEM_CODES)})
    task_id: str | None = None
    retry_after_seconds: int | None = Field(default=None, ge=0)
    lane: RouteLane | None = None
    lane_mode: LaneMode | None = None
    queue_depth: int | None = Field(default=None, ge=0)
    estimated_wait_seconds: float | None = Field(default=None, ge=0)
    reason: str | None = None
    errors: list[FieldError] = Field(default_factory=list)


def problem(status: int, code: str, title: str, detail: str | None = None, **extra: Any) -> Problem:
    return Problem(
        type=type_uri(code), status=status, code=code, title=title, detail=detail, **extra
    )


def from_decision(decision: AdmissionDecision, instance: str | None = None) -> Problem:
    """Mirrors a rejected `AdmissionDecision`; its schema guarantees status, code and title."""
    if decision.status is None or decision.code is None or decision.title is None:
        raise ValueError("only a rejected decision is a problem")
    return problem(
        decision.status,
        decision.code.value,
        decision.title,
        decision.detail,
        instance=instance,
        task_id=decision.task_id,
        retry_after_seconds=decision.retry_after_seconds,
        lane=decision.lane,
        lane_mode=decision.lane_mode,
        queue_depth=decision.queue_depth,
        estimated_wait_seconds=decision.estimated_wait_seconds,
        reason=decision.reason,
        errors=list(decision.errors),
    )


def field_errors(raw: list[Any]) -> list[FieldError]:
    """pydantic's `errors()` as framegate `FieldError`s, size-limited like the wire contract."""
    found: list[FieldError] = []
    for err in raw[:64]:
        loc = [part if isinstance(part, int) else str(part)[:200] for part in err.get("loc", ())][
            :16
        ]
        found.append(
            FieldError(
                loc=loc, msg=str(err.get("msg", ""))[:MAX_TEXT_CHARS], type=str(err.get("type", ""))[:MAX_TEXT_CHARS]
            )
        )
    return found


def response(
    doc: Problem, headers: dict[str, str] | None = None, retry_after_default: int = 1
) -> JSONResponse:
    """A 503 always says when to come back: `Retry-After` (seconds) and the same in the body."""
    all_headers = dict(headers or {})
    if doc.status == 503:
        if doc.retry_after_seconds is None:
            doc = doc.model_copy(update={"retry_after_seconds": retry_after_default})
        all_headers["Retry-After"] = str(doc.retry_after_seconds)
    return JSONResponse(
        doc.model_dump(mode="json", exclude_none=True),
        status_code=doc.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=all_headers,
    )
