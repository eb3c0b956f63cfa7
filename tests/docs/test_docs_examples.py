"""The docs' producer examples run as written against the real admission agent on the real local
broker: the Python snippets (aiokafka, confluent-kafka) get their decision, the curl commands get
theirs from the real gateway, and the kcat lines round-trip a request (skipped without kcat)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from schemas import ModelName, RouteLane, Topics
from streams.gateway.auth import Scope, add_key
from streams.local_stack.topics import create_topics
from tests.broker_io import publish_events
from tests.docs.blocks import block
from tests.docs.test_code_blocks import request_bodies
from tests.factories import heartbeat
from tests.integration.admission.harness import Agent
from tests.integration.gateway.server import gateway_settings, serve

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]
#: What the docs write for the local stack, replaced by the test's own addresses.
DOC_BOOTSTRAP = "127.0.0.1:19092"
DOC_GATEWAY = "http://127.0.0.1:8080"


@pytest.fixture(scope="module")
def agent(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topics]:
    """The admission agent on the default prefix (the snippets name it), with a phr00t worker."""
    topics = Topics()
    asyncio.run(create_topics(kafka_bootstrap, topics))
    with Agent(kafka_bootstrap, topics, tmp_path_factory.mktemp("docs-agent")).running():
        yield topics


def fresh_request() -> dict[str, Any]:
    body = next(b for b in request_bodies() if b.get("producer") == "render-farm")
    assert body["model"] == ModelName.phr00t
    return {**body, "task_id": f"docs-{uuid.uuid4().hex[:10]}"}


def phr00t_ready(bootstrap: str, topics: Topics) -> None:
    """A fresh heartbeat right before each example, so the lane is live when it decides."""
    publish_events(bootstrap, topics.events_lane, [heartbeat(RouteLane.phr00t)], "phr00t")


def snippet(test_id: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    found = block(test_id)
    exec(compile(found.text, found.where, "exec"), namespace)
    return namespace


def test_the_aiokafka_snippet_gets_its_decision(kafka_bootstrap: str, agent: Topics) -> None:
    submit = snippet("python-aiokafka")["submit"]
    phr00t_ready(kafka_bootstrap, agent)
    body = fresh_request()
    answer = asyncio.run(asyncio.wait_for(submit(body, kafka_bootstrap), 60))
    assert answer["task_id"] == body["task_id"] and answer["outcome"] == "accepted", answer


def test_the_confluent_kafka_snippet_gets_its_decision(kafka_bootstrap: str, agent: Topics) -> None:
    submit = snippet("python-confluent-kafka")["submit"]
    phr00t_ready(kafka_bootstrap, agent)
    body = fresh_request()
    answer = submit(body, kafka_bootstrap, 60.0)
    assert answer["task_id"] == body["task_id"] and answer["outcome"] == "accepted", answer


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_curl_commands_get_their_answers(
    kafka_bootstrap: str, agent: Topics, tmp_path: Path
) -> None:
    keys_file = tmp_path / "keys.json"
    key = add_key(keys_file, "docs", {Scope.submit, Scope.read}, producer="render-farm")
    settings = gateway_settings(kafka_bootstrap, agent, keys_file, gateway_decision_timeout_s=30.0)
    task_id = f"docs-{uuid.uuid4().hex[:10]}"
    with serve(settings) as base:
        phr00t_ready(kafka_bootstrap, agent)
        script = block("http-request").text.replace(DOC_GATEWAY, base).replace("shot-0042", task_id)
        run = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True,
                             text=True, timeout=120, check=False, env={"FRAMEGATE_KEY": key,
                                                                        "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr
    submitted, status = json_documents(run.stdout)  # curl prints the two bodies back to back
    assert submitted["task_id"] == task_id and submitted["lane"] == "phr00t", submitted
    assert status["task_id"] == task_id, status


def json_documents(text: str) -> list[Any]:
    decoder, found, at = json.JSONDecoder(), [], 0
    while at < len(text.rstrip()):
        document, at = decoder.raw_decode(text, at)
        found.append(document)
        while at < len(text) and text[at].isspace():
            at += 1
    return found


@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat is not installed (apt-get install kcat)")
def test_the_kcat_lines_round_trip_a_request(kafka_bootstrap: str, tmp_path: Path) -> None:
    asyncio.run(create_topics(kafka_bootstrap, Topics()))
    task_id = f"docs-{uuid.uuid4().hex[:10]}"
    script = (block("kcat").text.replace(DOC_BOOTSTRAP, kafka_bootstrap)
              .replace(".venv/bin/framegate", f"{sys.executable} -m streams.cli")
              .replace("shot-0042", task_id))
    run = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True,
                         text=True, timeout=120, check=False,
                         env={**os.environ, "FRAMEGATE_DATA_DIR": str(tmp_path),
                              "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert run.returncode == 0, run.stderr
    assert any(line.startswith(f"{task_id} ") for line in run.stdout.splitlines()), run.stdout
