"""Oversized request heads and unparseable requests get problem+json from the real server.

The gateway runs under uvicorn on a loopback port (its own protocol, `streams.gateway.http_server`);
the requests come from `http.client` and httpx, clients this project did not write, and from a
plain socket where the bytes' split on the wire is the point.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import jsonschema
import pytest

from schemas.topics import Topics
from streams.gateway.problems import Problem
from tests.integration.gateway.server import gateway_settings, make_keys, serve

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

PROBLEM = Problem.model_json_schema()
LIMIT = 16_384


@pytest.fixture(scope="module")
def gateway(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    from streams.local_stack.topics import create_topics

    topics = Topics(prefix=f"gh{uuid.uuid4().hex[:10]}.")
    asyncio.run(create_topics(kafka_bootstrap, topics))
    keys_file = tmp_path_factory.mktemp("keys") / "keys.json"
    keys = make_keys(keys_file)
    settings = gateway_settings(kafka_bootstrap, topics, keys_file, gateway_max_request_head_bytes=LIMIT)
    with serve(settings) as base:
        yield base, keys


def _address(base: str) -> tuple[str, int]:
    parts = urlsplit(base)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def _problem(status: int, content_type: str, body: bytes, want_status: int, want_code: str) -> dict[str, Any]:
    assert status == want_status, body[:300]
    assert content_type.startswith("application/problem+json"), content_type
    doc = json.loads(body)
    jsonschema.validate(doc, PROBLEM)
    assert (doc["status"], doc["code"]) == (want_status, want_code), doc
    return doc


def _http_client(base: str, method: str, path: str, headers: dict[str, str]) -> tuple[int, str, bytes]:
    host, port = _address(base)
    conn = http.client.HTTPConnection(host, port, timeout=15)
    try:
        conn.request(method, path, headers=headers)
        response = conn.getresponse()
        return response.status, response.getheader("content-type", ""), response.read()
    finally:
        conn.close()


def test_a_100_kb_authorization_header_gets_431(gateway: tuple[str, dict[str, str]]) -> None:
    base, _ = gateway
    huge = {"Authorization": "Bearer " + "k" * 100_000}
    doc = _problem(*_http_client(base, "GET", "/v1/tasks/t-1", huge), 431, "request_headers_too_large")
    assert str(LIMIT) in doc["detail"] and doc["type"] == "/problems#request_headers_too_large"
    answer = httpx.get(f"{base}/v1/tasks/t-1", headers=huge, timeout=15)
    _problem(answer.status_code, answer.headers["content-type"], answer.content, 431, "request_headers_too_large")


def test_a_long_request_line_gets_414(gateway: tuple[str, dict[str, str]]) -> None:
    base, keys = gateway
    path = "/v1/tasks/" + "a" * (LIMIT + 10)
    _problem(*_http_client(base, "GET", path, {"Authorization": f"Bearer {keys['reader']}"}),
             414, "request_line_too_long")
    answer = httpx.get(f"{base}{path}", timeout=15)
    _problem(answer.status_code, answer.headers["content-type"], answer.content, 414, "request_line_too_long")


def test_requests_under_the_limit_reach_the_application(gateway: tuple[str, dict[str, str]]) -> None:
    base, keys = gateway
    assert httpx.get(f"{base}/healthz", timeout=15).status_code == 200
    # Just under the limit: the application answers (the key is not a key: 401).
    padding = LIMIT - 400
    status, kind, body = _http_client(base, "GET", "/v1/tasks/t-1", {"Authorization": "Bearer " + "k" * padding})
    _problem(status, kind, body, 401, "unauthorized")
    status, kind, body = _http_client(base, "GET", "/v1/tasks/never-seen",
                                      {"Authorization": f"Bearer {keys['reader']}", "X-Pad": "p" * padding})
    _problem(status, kind, body, 404, "not_found")


def test_a_kept_alive_connection_is_checked_on_its_next_request(gateway: tuple[str, dict[str, str]]) -> None:
    base, keys = gateway
    host, port = _address(base)
    conn = http.client.HTTPConnection(host, port, timeout=15)
    try:
        conn.request("GET", "/v1/tasks/never-seen", headers={"Authorization": f"Bearer {keys['reader']}"})
        first = conn.getresponse()
        _problem(first.status, first.getheader("content-type", ""), first.read(), 404, "not_found")
        conn.request("GET", "/v1/tasks/never-seen", headers={"Cookie": "c" * (2 * LIMIT)})
        second = conn.getresponse()
        _problem(second.status, second.getheader("content-type", ""), second.read(), 431, "request_headers_too_large")
        assert second.getheader("connection") == "close"
    finally:
        conn.close()


def _raw(base: str, chunks: list[bytes]) -> tuple[int, str, bytes]:
    """Sends `chunks` one `sendall` each, then reads the whole answer (the server closes)."""
    with socket.create_connection(_address(base), timeout=15) as sock:
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused part-way: the answer is already on its way
        answer = b""
        while part := sock.recv(65536):
            answer += part
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split(" ")[1]), fields["content-type"], body


def test_a_head_arriving_in_small_pieces_gets_431_too(gateway: tuple[str, dict[str, str]]) -> None:
    base, _ = gateway
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * (3 * LIMIT) + b"\r\n\r\n"
    _problem(*_raw(base, [head[i:i + 1000] for i in range(0, len(head), 1000)]), 431, "request_headers_too_large")


def test_an_unparseable_request_gets_a_400_problem(gateway: tuple[str, dict[str, str]]) -> None:
    base, _ = gateway
    _problem(*_raw(base, [b"NOT AN HTTP REQUEST\r\n\r\n"]), 400, "invalid_http_request")
