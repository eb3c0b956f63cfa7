"""`refused_head`: 414 for a request line over the limit, 431 for a head over it, decided on any
prefix that shows it and never on one that does not."""

from __future__ import annotations

import json

import jsonschema
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.gateway.problems import Problem
from streams.gateway.request_head import invalid_request, raw_response, refused_head

LIMIT = 1024
PROBLEM = Problem.model_json_schema()


def _head(target: int, header_sizes: list[int]) -> bytes:
    line = b"GET /" + b"a" * target + b" HTTP/1.1\r\n"
    fields = b"".join(b"X-H%d: " % i + b"v" * size + b"\r\n" for i, size in enumerate(header_sizes))
    return line + fields + b"\r\n"


def _expected(head: bytes) -> int | None:
    line = head.index(b"\n")
    if line > LIMIT:
        return 414
    return 431 if len(head) > LIMIT else None


@settings(max_examples=200, deadline=None)
@given(
    target=st.integers(0, 2 * LIMIT),
    header_sizes=st.lists(st.integers(0, LIMIT // 2), max_size=6),
    body=st.binary(max_size=64),
    cut=st.integers(0, 4 * LIMIT),
)
def test_the_verdict_on_a_head_and_on_its_prefixes(target: int, header_sizes: list[int], body: bytes, cut: int) -> None:
    head = _head(target, header_sizes)
    expected = _expected(head)
    whole = refused_head(head + body, LIMIT)  # a body (or the next request) behind the head never counts
    assert (whole.status if whole else None) == expected
    prefix = head[:cut]
    got = refused_head(prefix, LIMIT)
    if expected is None:
        assert got is None  # never refused before the bytes show it
    elif len(prefix) > LIMIT + 4:
        assert got is not None and got.status == expected  # decided once more than the limit is held
    if got is not None:
        assert got.status == expected


def test_blank_lines_before_a_request_do_not_count_as_its_line() -> None:
    assert refused_head(b"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", LIMIT) is None


def test_the_raw_answer_is_a_complete_problem_response() -> None:
    head, _, body = raw_response(invalid_request()).partition(b"\r\n\r\n")
    lines = head.decode("ascii").split("\r\n")
    assert lines[0] == "HTTP/1.1 400 Bad Request"
    fields = dict(line.split(": ", 1) for line in lines[1:])
    assert fields["content-type"] == "application/problem+json" and fields["connection"] == "close"
    assert int(fields["content-length"]) == len(body)
    doc = json.loads(body)
    jsonschema.validate(doc, PROBLEM)
    assert doc["code"] == "invalid_http_request" and doc["type"] == "/problems#invalid_http_request"
