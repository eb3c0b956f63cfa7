"""The README's producer examples run as written: every request body in it is accepted before any
GPU, and its Python snippet gets its decision from the real agent on the real broker."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest

from schemas import DecisionOutcome, ModelName, RouteLane, SourceRecord, Topics
from streams.admission.decide import decide
from streams.admission.parsing import parse
from streams.local_stack.topics import create_topics
from tests.admission_states import state as healthy_state
from tests.factories import T0, heartbeat
from tests.integration.admission.harness import Agent, publish_events

README = Path(__file__).resolve().parents[3] / "README.md"


def readme() -> str:
    return README.read_text()


def request_bodies() -> list[dict[str, Any]]:
    """Every request in the README: ```json blocks, curl `-d` bodies and the kcat payload."""
    text = readme()
    found = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", text, re.S)
             if '"task_id"' in block]
    found += [json.loads(body) for body in re.findall(r"-d '(\{.*?\})'", text)]
    found += [json.loads(body) for body in re.findall(r"echo '[\w-]+:(\{.*?\})'", text)]
    return found


def test_the_readme_shows_requests() -> None:
    assert len(request_bodies()) >= 4


@pytest.mark.parametrize("body", request_bodies(), ids=lambda b: str(b.get("task_id")))
def test_every_readme_request_is_accepted_before_any_gpu(body: dict[str, Any]) -> None:
    source = SourceRecord(topic="tasks.requested", partition=0, offset=0)
    parsed = parse(json.dumps(body).encode(), source, T0)
    assert not hasattr(parsed, "decision"), getattr(parsed, "decision", None)
    config = healthy_state().config
    state = healthy_state(config=type(config)(critical_producers=frozenset({"render-farm", "ops"})))
    decision = decide(state, parsed, T0, source).decision  # type: ignore[arg-type]
    assert decision.outcome is DecisionOutcome.accepted, decision.detail


@pytest.mark.integration
def test_the_readme_python_snippet_gets_its_decision(kafka_bootstrap: str, tmp_path: Path) -> None:
    snippet = re.search(r"Python \(aiokafka\):\n\n```python\n(.*?)```", readme(), re.S)
    assert snippet is not None
    namespace: dict[str, Any] = {}
    exec(compile(snippet.group(1), "README.md", "exec"), namespace)
    topics = Topics()  # the snippet names the default prefix
    asyncio.run(create_topics(kafka_bootstrap, topics))
    publish_events(kafka_bootstrap, topics.events_lane, [heartbeat(RouteLane.phr00t)], "phr00t")
    agent = Agent(kafka_bootstrap, topics, tmp_path).start()
    try:
        body = next(b for b in request_bodies() if b.get("producer") == "render-farm")
        body = {**body, "task_id": "readme-python-0001"}
        assert body["model"] == ModelName.phr00t
        answer = asyncio.run(asyncio.wait_for(namespace["submit"](body, kafka_bootstrap), 60))
        assert answer["task_id"] == body["task_id"] and answer["outcome"] == "accepted", answer
    finally:
        agent.stop()
