"""Which request heads the gateway refuses before parsing them, and the raw answer it sends.

Pure: bytes in, a decision (or bytes) out. The HTTP server (`http_server`) calls it with what
it holds of a request head not yet handed to the application.
"""

from __future__ import annotations

import json
from http import HTTPStatus

from streams.gateway.problems import PROBLEM_MEDIA_TYPE, GatewayCode, Problem, problem

_LINE_END = b"\n"
_HEAD_END = b"\r\n\r\n"


def refused_head(buffered: bytes, limit: int) -> Problem | None:
    """The problem for a request head over `limit` bytes, or None while it may still fit.

    `buffered` is what the server holds from the start of a request head: a part of it, the
    whole head, or the head and more (a body, a pipelined request); only the first head counts.
    A request line longer than `limit` (the request target, almost always) is 414 (RFC 9112
    section 3: a target longer than the server will parse); a head longer than `limit` is 431
    (RFC 6585 section 5). Both are decided as soon as the bytes held show it, so the server
    never buffers more than `limit` bytes of a head.
    """
    start = len(buffered) - len(buffered.lstrip(b"\r\n"))  # blank lines before a request
    line_end = buffered.find(_LINE_END, start)
    line = (len(buffered) if line_end == -1 else line_end) - start
    if line > limit:
        return problem(
            HTTPStatus.REQUEST_URI_TOO_LONG, GatewayCode.request_line_too_long,
            "Request line too long",
            f"the request line (method, target, version) takes more than {limit} bytes",
        )
    head_end = buffered.find(_HEAD_END, start)
    head = (len(buffered) if head_end == -1 else head_end + len(_HEAD_END)) - start
    if head > limit:
        return problem(
            HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, GatewayCode.request_headers_too_large,
            "Request headers too large",
            f"the request line and headers take more than {limit} bytes",
        )
    return None


def invalid_request() -> Problem:
    """Anything else the HTTP parser cannot read as an HTTP/1.1 request."""
    return problem(
        HTTPStatus.BAD_REQUEST, GatewayCode.invalid_http_request, "Invalid HTTP request",
        "the request is not a valid HTTP/1.1 message",
    )


def raw_response(doc: Problem) -> bytes:
    """The whole HTTP/1.1 response for `doc`, closing the connection (the rest of the request
    is never read, so the connection cannot carry another one)."""
    body = json.dumps(doc.model_dump(mode="json", exclude_none=True)).encode()
    head = (
        f"HTTP/1.1 {doc.status} {HTTPStatus(doc.status).phrase}\r\n"
        f"content-type: {PROBLEM_MEDIA_TYPE}\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body
