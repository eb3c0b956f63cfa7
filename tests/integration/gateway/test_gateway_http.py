"""The gateway on the real broker in front of the real admission agent (one per module): decisions
mirrored, auth first and never failing open."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from schemas import ModelName
from schemas.topics import Topics
from streams.gateway.problems import Problem
from streams.gateway.responses import TaskAccepted
from streams.gateway.status import TaskStatusView
from tests.broker_io import collect
from tests.factories import request_body as body
from tests.integration.gateway.live_admission import LiveAdmission, live_admission
from tests.integration.gateway.server import gateway_settings, make_keys, serve
from tests.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

PROBLEM = Problem.model_json_schema()
ACCEPTED = TaskAccepted.model_json_schema()
STATUS = TaskStatusView.model_json_schema()


@pytest.fixture(scope="module")
def admission(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveAdmission]:
    with live_admission(kafka_bootstrap, tmp_path_factory.mktemp("admission")) as live:
        yield live


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def json_bearer(key: str) -> dict[str, str]:
    """For bodies sent as raw bytes: without the media type the gateway answers 415."""
    return {**bearer(key), "Content-Type": "application/json"}


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    doc = response.json()
    jsonschema.validate(doc, PROBLEM)
    assert doc["status"] == status and doc["code"] == code, doc
    if status == 503:
        assert int(response.headers["Retry-After"]) >= 0
    return doc


def auth_matrix(
    base: str,
    keys: dict[str, str],
    valid_status: int,
    valid_code: str,
    model: ModelName = ModelName.phr00t,
) -> set[str]:
    """Missing, wrong and insufficient keys are refused before anything else looks at the request;
    returns the task ids it sent (only the last, authorised one may reach Kafka)."""
    url = f"{base}/v1/tasks"
    good = body(model)
    critical = body(model, priority="critical")
    assert_problem(httpx.post(url, json=good), 401, "unauthorized")
    assert_problem(
        httpx.post(url, content=b"{not json", headers={"Content-Type": "application/json"}),
        401,
        "unauthorized",
    )
    assert_problem(httpx.post(url, content=b"x" * 200_000), 401, "unauthorized")
    assert_problem(
        httpx.post(url, json=good, headers=bearer("fgk.submitter.wrongwrongwrongwrong")),
        401,
        "unauthorized",
    )
    assert_problem(
        httpx.post(url, json=good, headers={"Authorization": "Basic dXNlcjpwYXNz"}),
        401,
        "unauthorized",
    )
    assert_problem(httpx.post(url, json=good, headers=bearer(keys["reader"])), 403, "forbidden")
    assert_problem(
        httpx.post(url, json=critical, headers=bearer(keys["submit"])),
        403,
        "priority_not_authorised",
    )
    assert_problem(httpx.get(f"{base}/v1/tasks/{good['task_id']}"), 401, "unauthorized")
    response = httpx.post(url, json=good, headers=bearer(keys["submit"]), timeout=30)
    assert_problem(response, valid_status, valid_code)
    return {good["task_id"], critical["task_id"]}


def test_accepted_request_gets_202_with_lane_and_status(
    admission: LiveAdmission, tmp_path: Path
) -> None:
    keys = make_keys(tmp_path / "keys.json")
    settings = gateway_settings(admission.bootstrap, admission.topics, tmp_path / "keys.json")
    with serve(settings) as base:
        sent = body(producer="someone-else")
        response = httpx.post(
            f"{base}/v1/tasks", json=sent, headers=bearer(keys["submit"]), timeout=30
        )
        assert response.status_code == 202, response.text
        accepted = response.json()
        jsonschema.validate(accepted, ACCEPTED)
        assert accepted["task_id"] == sent["task_id"] and accepted["lane"] == "phr00t"
        assert accepted["lane_mode"] == "dedicated"
        # the producer identity is the key's, whatever the body claimed
        assert accepted["producer"] == "batch-producer" == accepted["request"]["producer"]
        assert response.headers["Location"] == f"/v1/tasks/{sent['task_id']}"

        def status_known() -> bool:
            got = httpx.get(f"{base}{accepted['status_url']}", headers=bearer(keys["reader"]))
            return got.status_code == 200

        wait_until(status_known, timeout_s=20, what="task status")
        status = httpx.get(
            f"{base}/v1/tasks/{sent['task_id']}", headers=bearer(keys["reader"])
        ).json()
        jsonschema.validate(status, STATUS)
        assert status["status"] == "pending" and status["lane"] == "phr00t"
        assert_problem(
            httpx.get(f"{base}/v1/tasks/nope-{uuid.uuid4().hex}", headers=bearer(keys["reader"])),
            404,
            "not_found",
        )

        critical = httpx.post(
            f"{base}/v1/tasks",
            json=body(priority="critical"),
            headers=bearer(keys["critical"]),
            timeout=30,
        )
        assert critical.status_code == 202, critical.text
        assert critical.json()["priority"] == "critical"
        assert critical.json()["producer"] == "ops-console"

        wrong_steps, extra_field = body(steps=8), body(extra=1)
        invalid = httpx.post(f"{base}/v1/tasks", json=wrong_steps, headers=bearer(keys["submit"]))
        doc = assert_problem(invalid, 422, "validation_error")
        assert doc["errors"] and "steps=4" in doc["errors"][0]["msg"]
        assert_problem(
            httpx.post(f"{base}/v1/tasks", json=extra_field, headers=bearer(keys["submit"])),
            422,
            "validation_error",
        )
        assert_problem(
            httpx.post(f"{base}/v1/tasks", content=b"[1,", headers=json_bearer(keys["submit"])),
            422,
            "malformed_request",
        )
        assert_problem(
            httpx.post(
                f"{base}/v1/tasks",
                content=b"{" + b" " * 70_000 + b"}",
                headers=json_bearer(keys["submit"]),
            ),
            422,
            "malformed_request",
        )
        # refused requests never reached Kafka: only the two accepted task_ids were published
        ours = {sent["task_id"], critical.json()["task_id"], wrong_steps["task_id"],
                extra_field["task_id"]}
        assert sorted(admission.requested(ours, 2)) == sorted(
            [sent["task_id"], critical.json()["task_id"]]
        )

        metrics = httpx.get(f"{base}/metrics").text
        assert 'framegate_gateway_decisions_total{code="",outcome="accepted"} 2.0' in metrics
        assert "framegate_gateway_auth_failures_total" in metrics


def test_auth_matrix_under_an_overloaded_lane(admission: LiveAdmission, tmp_path: Path) -> None:
    keys = make_keys(tmp_path / "keys.json")
    settings = gateway_settings(admission.bootstrap, admission.topics, tmp_path / "keys.json")
    with serve(settings) as base:
        admission.fill_shared_queue()
        tried = auth_matrix(base, keys, 503, "queue_overloaded", ModelName.anisora)
        last = body(ModelName.anisora)
        response = httpx.post(
            f"{base}/v1/tasks", json=last, headers=bearer(keys["submit"]), timeout=30
        )
        doc = assert_problem(response, 503, "queue_overloaded")
        assert response.headers["Retry-After"] == "30" and doc["retry_after_seconds"] == 30
        assert (
            doc["lane"] == "shared"
            and doc["lane_mode"] == "degraded_shared"
            and doc["queue_depth"] == 25
        )
        # only the two authorised submissions were published
        published = admission.requested({*tried, last["task_id"]}, 2)
        assert len(published) == 2 and last["task_id"] in published


def test_auth_matrix_with_the_broker_down(tmp_path: Path) -> None:
    from streams.local_stack.broker import free_port

    keys = make_keys(tmp_path / "keys.json")
    settings = gateway_settings(
        f"127.0.0.1:{free_port()}", Topics(), tmp_path / "keys.json", gateway_publish_timeout_s=1.0
    )
    with serve(settings, ready_feed=False) as base:
        health = httpx.get(f"{base}/healthz")
        assert health.status_code == 503 and health.json()["status"] == "unavailable"
        auth_matrix(base, keys, 503, "broker_unavailable")


def test_decision_timeout_is_a_documented_503(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    keys = make_keys(tmp_path / "keys.json")
    settings = gateway_settings(
        kafka_bootstrap,
        topics,
        tmp_path / "keys.json",
        gateway_decision_timeout_s=1.0,
        gateway_max_inflight=1,
    )
    # no admission agent reads these topics: the request is published and never decided
    with serve(settings) as base:
        first: dict[str, httpx.Response] = {}
        waiting = threading.Thread(
            target=lambda: first.setdefault(
                "r",
                httpx.post(
                    f"{base}/v1/tasks", json=body(), headers=bearer(keys["submit"]), timeout=30
                ),
            )
        )
        waiting.start()
        wait_until(
            lambda: "framegate_gateway_inflight_requests 1.0" in httpx.get(f"{base}/metrics").text,
            timeout_s=10,
            what="first request in flight",
        )
        second = httpx.post(
            f"{base}/v1/tasks", json=body(), headers=bearer(keys["submit"]), timeout=30
        )
        assert_problem(second, 503, "gateway_overloaded")
        waiting.join(30)
        doc = assert_problem(first["r"], 503, "decision_timeout")
        ((_, published),) = asyncio.run(collect(kafka_bootstrap, [topics.tasks_requested], 1))
        assert doc["task_id"] == published["task_id"]
        assert "framegate_gateway_decision_timeouts_total 1.0" in httpx.get(f"{base}/metrics").text
