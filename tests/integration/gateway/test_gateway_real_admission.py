"""The gateway in front of the real `framegate admission` agent (a subprocess) on the real broker.

No lane has sent a heartbeat, so admission fails closed: the gateway must mirror its refusals
exactly (problem fields, Retry-After) and its authorised-producer rule for `critical` must see
the producer identity the gateway stamped from the API key.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from schemas.topics import Topics
from streams.gateway.auth import Scope, add_key
from streams.local_stack.broker import free_port, port_open
from tests.integration.gateway.server import gateway_settings, make_keys, serve
from tests.integration.gateway.test_gateway_http import assert_problem, bearer, body
from tests.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(180)]


@contextmanager
def admission_agent(bootstrap: str, topics: Topics, data_dir: Path) -> Iterator[None]:
    port = free_port()
    env = {
        **os.environ,
        "FRAMEGATE_KAFKA_BOOTSTRAP": bootstrap,
        "FRAMEGATE_TOPIC_PREFIX": topics.prefix,
        "FRAMEGATE_BROKER_PROFILE": "tansu",
        "FRAMEGATE_DATA_DIR": str(data_dir),
        "FRAMEGATE_ADMISSION_WEB_PORT": str(port),
        "FRAMEGATE_ADMISSION_CRITICAL_PRODUCERS": '["ops-console"]',
    }
    log = open(data_dir / "admission.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "admission", "--loglevel", "warning"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until(
            lambda: port_open("127.0.0.1", port) or proc.poll() is not None,
            timeout_s=60,
            what="admission web port",
        )
        assert proc.poll() is None, (data_dir / "admission.log").read_text()[-3000:]
        yield
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)
        log.close()


def test_gateway_mirrors_the_real_admission_agent(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    keys_file = tmp_path / "keys.json"
    keys = make_keys(keys_file)
    rogue = add_key(keys_file, "rogue", {Scope.submit, Scope.critical}, producer="not-listed")
    settings = gateway_settings(kafka_bootstrap, topics, keys_file, gateway_decision_timeout_s=30.0)
    with admission_agent(kafka_bootstrap, topics, tmp_path), serve(settings) as base:
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
        doc = assert_problem(refused, 503, refused.json().get("code", "?"))
        assert doc["code"] in {
            "lane_unavailable",
            "gpu_quota_exhausted",
            "cpu_starvation",
            "io_saturation",
            "queue_overloaded",
        }
        # the key holds tasks:critical, but its producer is not authorised by admission
        critical = httpx.post(
            url,
            json=body(priority="critical", producer="ops-console"),
            headers=bearer(rogue),
            timeout=40,
        )
        assert_problem(critical, 403, "priority_not_authorised")
        # unauthenticated: 401 while admission is refusing everything
        assert_problem(httpx.post(url, json=body()), 401, "unauthorized")
