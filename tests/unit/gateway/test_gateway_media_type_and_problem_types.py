"""415 for bodies not sent as JSON; every problem `type` resolves to a section of the docs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest
from fastapi.testclient import TestClient

from schemas.settings import load_settings
from streams.gateway.app import create_app
from streams.gateway.auth import Scope, add_key
from streams.gateway.problem_catalog import BY_CODE, DOC_FILE, PROBLEMS_PATH, render_markdown
from streams.gateway.problems import PROBLEM_CODES, PROBLEM_MEDIA_TYPE, problem
from streams.local_stack.broker import free_port

ROOT = Path(__file__).parents[3]
BODY = (
    b'{"task_id":"t-1","model":"phr00t","prompt":"p","input_image":"file:///i.png",'
    b'"steps":4,"cfg":1.0,"width":832,"height":480,"num_frames":81,"fps":16}'
)


@pytest.fixture()
def client(tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    keys = tmp_path / "keys.json"
    key = add_key(keys, "submitter", {Scope.submit, Scope.read})
    # no lifespan: nothing connects, the decision feed stays not-ready
    settings = load_settings(
        kafka_bootstrap=f"127.0.0.1:{free_port()}", gateway_keys_file=keys, data_dir=tmp_path
    )
    yield TestClient(create_app(settings)), key


def _auth(key: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **headers}


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_body_not_sent_as_json_is_415(
    client: tuple[TestClient, str], content_type: str | None
) -> None:
    http, key = client
    headers = _auth(key) if content_type is None else _auth(key, **{"Content-Type": content_type})
    response = http.post("/v1/tasks", content=BODY, headers=headers)
    assert response.status_code == 415, response.text
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    assert response.headers["Accept-Post"] == "application/json"
    doc = response.json()
    assert doc["code"] == "unsupported_media_type"
    assert doc["type"] == "/problems#unsupported_media_type"
    assert (content_type or "no Content-Type") in doc["detail"]


def test_auth_comes_before_the_content_type(client: tuple[TestClient, str]) -> None:
    http, _ = client
    response = http.post("/v1/tasks", content=BODY, headers={"Content-Type": "text/plain"})
    assert response.status_code == 401 and response.json()["code"] == "unauthorized"


def test_json_with_parameters_passes_the_content_type_check(client: tuple[TestClient, str]) -> None:
    http, key = client
    headers = _auth(key, **{"Content-Type": "Application/JSON; charset=utf-8"})
    response = http.post("/v1/tasks", content=BODY, headers=headers)
    # past 415 and 422: refused only because the decision feed is not connected
    assert response.status_code == 503 and response.json()["code"] == "broker_unavailable"


def test_openapi_declares_415(client: tuple[TestClient, str]) -> None:
    http, _ = client
    responses = http.get("/openapi.json").json()["paths"]["/v1/tasks"]["post"]["responses"]
    assert PROBLEM_MEDIA_TYPE in responses["415"]["content"]


def test_every_code_has_a_catalog_entry_and_an_anchor() -> None:
    assert set(BY_CODE) == set(PROBLEM_CODES)
    anchors = set(re.findall(r'<a id="([a-z_]+)"></a>', render_markdown()))
    assert anchors == set(PROBLEM_CODES)


def test_docs_file_is_the_rendered_catalog() -> None:
    assert (ROOT / DOC_FILE).read_text() == render_markdown(), (
        "docs/problems.md is stale: regenerate it from streams/gateway/problem_catalog.py"
    )


def test_every_problem_type_resolves_to_its_section(client: tuple[TestClient, str]) -> None:
    http, _ = client
    page = http.get(PROBLEMS_PATH)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/markdown")
    for code in PROBLEM_CODES:
        doc = problem(BY_CODE[code].status, code, BY_CODE[code].title)
        resolved = urlparse(urljoin("http://gateway.example:8080/v1/tasks", doc.type))
        assert resolved.path == PROBLEMS_PATH
        section = page.text.split(f'<a id="{resolved.fragment}"></a>', 1)[1].split("<a id=", 1)[0]
        assert f"`{code}` ({BY_CODE[code].status} " in section
        assert "**Fields**" in section and "**Client action**" in section
