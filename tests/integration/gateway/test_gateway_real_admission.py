"""The gateway in front of the real `framegate admission` agent (a subprocess) on the real broker.

No lane has sent a heartbeat, so admission fails closed: the gateway must mirror its refusals
exactly (problem fields, Retry-After) and its authorised-producer rule for `critical` must see
the producer identity the gateway stamped from the API key.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from schemas.topics import Topics
from streams.gateway.auth import Scope, add_key
from tests.factories import request_body as body
from tests.integration.admission.harness import Agent
from tests.integration.gateway.live_admission import CRITICAL_PRODUCER
from tests.integration.gateway.server import gateway_settings, make_keys, serve
from tests.integration.gateway.test_gateway_http import assert_problem, bearer
from tests.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(180)]


def test_gateway_mirrors_the_real_admission_agent(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    keys_file = tmp_path / "keys.json"
    keys = make_keys(keys_file)
    rogue = add_key(keys_file, "rogue", {Scope.submit, Scope.critical}, producer="not-listed")
    settings = gateway_settings(kafka_bootstrap, topics, keys_file, gateway_decision_timeout_s=30.0)
    agent = Agent(kafka_bootstrap, topics, tmp_path,
                  extra_env={"FRAMEGATE_ADMISSION_CRITICAL_PRODUCERS": f'["{CRITICAL_PRODUCER}"]'})
    with agent.running(), serve(settings) as base:
        url = f"{base}/v1/tasks"

        def decided() -> bool:
            response = httpx.post(
                url,
                json=body(task_id=f"warm-{uuid.uuid4().hex[:8]}"),
                headers=bearer(keys["submit"]),
                timeout=40,
            )
            return response.status_code != 503 or response.json()["code"] != "decision_timeout"

        wait_until(decided, timeout_s=90, interval_s=0.5, what="admission answering")
        # no heartbeat from any lane: admission fails closed with a 503 of its own
        refused = httpx.post(url, json=body(), headers=bearer(keys["submit"]), timeout=40)
        doc = assert_problem(refused, 503, "lane_unavailable")
        assert doc["lane"] == "phr00t" and int(refused.headers["Retry-After"]) == doc["retry_after_seconds"]
        # the key holds tasks:critical, but its producer is not authorised by admission
        critical = httpx.post(
            url,
            json=body(priority="critical", producer=CRITICAL_PRODUCER),
            headers=bearer(rogue),
            timeout=40,
        )
        assert_problem(critical, 403, "priority_not_authorised")
        # unauthenticated: 401 while admission is refusing everything
        assert_problem(httpx.post(url, json=body()), 401, "unauthorized")
