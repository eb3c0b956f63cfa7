"""What each problem `code` means, its fields and what the client should do: one entry per code.

The same entries render `docs/problems.md` (kept in sync by a test) and the page the gateway
serves at `GET /problems`; a problem's `type` is `/problems#<code>`, a URI reference that
resolves against the gateway's own address, so every `type` a client receives can be opened.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.policy import DEGRADED_QUEUE_POLICY as _QUEUE
from schemas.settings import Settings

PROBLEMS_PATH = "/problems"
DOC_FILE = "docs/problems.md"

_DECISION = "`task_id`, `lane`, `lane_mode`"
_RETRY = "`retry_after_seconds` (and the `Retry-After` header)"
_HEAD_LIMIT = (
    "`FRAMEGATE_GATEWAY_MAX_REQUEST_HEAD_BYTES` (default "
    f"{Settings.model_fields['gateway_max_request_head_bytes'].default} bytes)"
)


@dataclass(frozen=True)
class ProblemType:
    code: str
    status: int
    title: str
    meaning: str
    fields: str
    action: str


CATALOG: tuple[ProblemType, ...] = (
    ProblemType(
        "malformed_request", 422, "Malformed request",
        "The body is not a JSON object, is empty, or exceeds 64 KiB. Nothing was published.",
        "`detail`",
        "Fix the client: send one UTF-8 JSON object as `application/json`. Do not retry as is.",
    ),
    ProblemType(
        "validation_error", 422, "Validation error",
        "The JSON object breaks the `GenerationRequest` contract (a field's type, range, "
        "multiple of 16, 4k+1 frames, the model's pinned steps/cfg, `input_image` for "
        "`image_to_video`, unknown fields). An integer field takes any JSON number with a zero "
        "fraction (`1216`, `1216.0`, `1.216e3`), as JSON Schema's `integer` does; a fraction "
        "(`1216.5`) is refused with `type` `int_from_float`.",
        "`errors[]`: one `{loc, msg, type}` per broken rule, `loc` naming the field; `task_id` "
        "when it was readable",
        "Fix the named fields; validate against `GenerationRequest.schema.json` before sending. "
        "Do not retry as is.",
    ),
    ProblemType(
        "priority_not_authorised", 403, "Priority not authorised",
        "`priority: critical` from a key without the `tasks:critical` scope, or from a producer "
        "admission does not list in `FRAMEGATE_ADMISSION_CRITICAL_PRODUCERS`.",
        "`task_id`",
        "Send as `standard`, or ask the operator for a key with `tasks:critical`.",
    ),
    ProblemType(
        "queue_overloaded", 503, "Queue overloaded",
        "The model's lane is degraded to the shared lane and its queue is at its depth limit "
        f"({_QUEUE.max_depth}), the expected wait is over the limit ({_QUEUE.max_wait_seconds} s), "
        "or a queued `background` item was preempted by a more important one.",
        f"{_DECISION}, `queue_depth`, `estimated_wait_seconds`, `reason` (`depth`, `wait`, "
        f"`preempted`), {_RETRY}",
        "Retry after `retry_after_seconds` with the same `task_id`; lower-priority work waits "
        "longer.",
    ),
    ProblemType(
        "gpu_quota_exhausted", 503, "GPU session quota exhausted",
        "Every live worker of the lane is at its GPU session quota and the shared fallback lane "
        "cannot take the work.",
        f"{_DECISION}, {_RETRY}",
        "Retry after `retry_after_seconds`.",
    ),
    ProblemType(
        "cpu_starvation", 503, "Worker CPU starved",
        "The lane's workers report sustained CPU saturation; work would not make progress.",
        f"{_DECISION}, {_RETRY}",
        "Retry after `retry_after_seconds`.",
    ),
    ProblemType(
        "io_saturation", 503, "Artifact storage saturated",
        "The lane's workers report artifact writes slower than the configured limit.",
        f"{_DECISION}, {_RETRY}",
        "Retry after `retry_after_seconds`.",
    ),
    ProblemType(
        "lane_unavailable", 503, "Lane unavailable",
        "No live worker heartbeat for the lane (`reason`: `missing_signal` or `stale_signal`), "
        "so admission fails closed.",
        f"{_DECISION}, `reason`, {_RETRY}",
        "Retry after `retry_after_seconds`; if it persists, the lane's workers are down "
        "(tell the operator).",
    ),
    ProblemType(
        "unauthorized", 401, "Unauthorized",
        "No `Authorization: Bearer <key>` header, or the key is not valid (revoked, mistyped).",
        "`WWW-Authenticate` header",
        "Send a valid key (`framegate gateway keys add`); do not retry with the same key.",
    ),
    ProblemType(
        "forbidden", 403, "Insufficient scope",
        "The key is valid but lacks the scope the operation needs (`tasks:submit`, "
        "`tasks:read`).",
        "`detail` names the scope",
        "Use a key with that scope.",
    ),
    ProblemType(
        "not_found", 404, "Not found",
        "No such route, or `GET /v1/tasks/{task_id}` for a task this gateway has no decision or "
        "event for yet.",
        "`task_id` (task lookups)",
        "Check the path or task id; a task just submitted elsewhere may appear shortly.",
    ),
    ProblemType(
        "method_not_allowed", 405, "Method not allowed",
        "The route exists but not with this HTTP method.",
        "`Allow` header",
        "Use a method the `Allow` header lists.",
    ),
    ProblemType(
        "unsupported_media_type", 415, "Unsupported media type",
        "`POST /v1/tasks` with a `Content-Type` other than `application/json` (or none).",
        "`detail` names the type received",
        "Send the body with `Content-Type: application/json`.",
    ),
    ProblemType(
        "broker_unavailable", 503, "Broker unavailable",
        "The gateway cannot reach Kafka (its producer, or the feed that hears decisions). "
        "Nothing was published.",
        _RETRY,
        "Retry after `retry_after_seconds`; safe to retry with the same `task_id`.",
    ),
    ProblemType(
        "decision_timeout", 503, "Decision timeout",
        "The request *was* published, but no decision arrived within "
        "`FRAMEGATE_GATEWAY_DECISION_TIMEOUT_S`.",
        f"`task_id`, {_RETRY}",
        "Retry with the same `task_id` (admission answers with its original decision) or poll "
        "`GET /v1/tasks/{task_id}`. Never resubmit under a new id.",
    ),
    ProblemType(
        "gateway_overloaded", 503, "Gateway overloaded",
        "More than `FRAMEGATE_GATEWAY_MAX_INFLIGHT` requests are already waiting for decisions "
        "on this gateway.",
        _RETRY,
        "Retry after `retry_after_seconds`, or through another gateway replica.",
    ),
    ProblemType(
        "invalid_http_request", 400, "Invalid HTTP request",
        "The bytes received are not an HTTP/1.1 request the server can parse (a broken request "
        "line or header). The application never saw it; the connection is closed.",
        "`detail`",
        "Fix the client's HTTP. Do not retry as is.",
    ),
    ProblemType(
        "request_line_too_long", 414, "Request line too long",
        f"The request line (method, target, version) is longer than {_HEAD_LIMIT}. The "
        "connection is closed.",
        "`detail` names the limit",
        "Use the documented paths; they are short. Do not retry as is.",
    ),
    ProblemType(
        "request_headers_too_large", 431, "Request headers too large",
        f"The request line and headers together are longer than {_HEAD_LIMIT}, say an "
        "oversized `Authorization` or cookie header. The connection is closed.",
        "`detail` names the limit",
        "Send fewer or smaller headers (a key is 43 characters). Do not retry as is.",
    ),
    ProblemType(
        "internal_error", 500, "Internal error",
        "An HTTP error the gateway has no specific code for.",
        "`detail`",
        "Retry later; report it to the operator if it persists.",
    ),
)

BY_CODE: dict[str, ProblemType] = {entry.code: entry for entry in CATALOG}


def type_uri(code: str) -> str:
    """The problem `type` for `code`: a section of the page the gateway serves."""
    return f"{PROBLEMS_PATH}#{code}"


def render_markdown() -> str:
    lines = [
        "# Problem types",
        "",
        "<!-- Generated from streams/gateway/problem_catalog.py; "
        "a test keeps this file in sync. -->",
        "",
        "Every refusal of the gateway is an RFC 9457 problem document "
        "(`application/problem+json`) with `type`, `title`, `status`, `detail`, `instance` "
        f"and `code`. Its `type` is `{PROBLEMS_PATH}#<code>`: resolved against the gateway's "
        f"address it opens this page, which the gateway serves at `GET {PROBLEMS_PATH}`. "
        "Clients should branch on `code` (or `type`), never on `title` or `detail`.",
        "",
        "| code | status |",
        "|---|---|",
        *[f"| [`{e.code}`](#{e.code}) | {e.status} |" for e in CATALOG],
        "",
    ]
    for entry in CATALOG:
        lines += [
            f'<a id="{entry.code}"></a>',
            f"## `{entry.code}` ({entry.status} {entry.title})",
            "",
            entry.meaning,
            "",
            f"- **Fields**: {entry.fields}.",
            f"- **Client action**: {entry.action}",
            "",
        ]
    return "\n".join(lines)
