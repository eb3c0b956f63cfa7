"""Replay determinism (fresh agent, restart mid-stream) and a hostile flood, on the real broker."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from schemas import AdmissionDecision, ModelName, Priority, RouteLane, Topics
from schemas.export import json_schema
from streams.local_stack.topics import create_topics
from tests.broker_io import Placed, collect, publish_now
from tests.factories import heartbeat, request
from tests.integration.admission.harness import Agent, lane_events

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

BASE = datetime.now(UTC).replace(microsecond=0)


def scenario() -> tuple[list[bytes], list[bytes]]:
    """A fixed log: lane events, then 40 requests that fill, overflow and preempt the shared queue."""
    lanes = lane_events(BASE, degraded=[RouteLane.anisora])
    reqs = []
    for i in range(40):
        priority = Priority.background if i < 28 else (Priority.standard if i < 34 else Priority.critical)
        model = ModelName.anisora if i % 5 else ModelName.phr00t
        reqs.append(request(model, task_id=f"replay-{i}", priority=priority, producer="ops",
                            width=1280 if i % 2 else 832, height=720 if i % 2 else 480, submitted_at=BASE))
    reqs.append(request(ModelName.anisora, task_id="replay-3", submitted_at=BASE))  # re-sent id
    return [e.to_wire() for e in lanes], [r.to_wire() for r in reqs]


def fresh_topics(bootstrap: str) -> Topics:
    topics = Topics(prefix=f"r{uuid.uuid4().hex[:10]}.")
    asyncio.run(create_topics(bootstrap, topics))
    return topics


def feed(bootstrap: str, topics: Topics, lanes: list[bytes], reqs: list[bytes], start: int, stop: int) -> None:
    records: list[Placed] = []
    if start == 0:
        records += [Placed(topics.events_lane, b"lane", v, 0, int(BASE.timestamp() * 1000)) for v in lanes]
    ts = int((BASE + timedelta(seconds=1)).timestamp() * 1000)
    records += [Placed(topics.tasks_requested, None, v, 0, ts + 10 * i)
                for i, v in enumerate(reqs[start:stop], start)]
    publish_now(bootstrap, records)


def outputs(bootstrap: str, topics: Topics, count: int) -> dict[str, list[Any]]:
    names = {topics.tasks_accepted: "accepted", topics.tasks_rejected: "rejected"}
    got = asyncio.run(collect(bootstrap, list(names), count))
    per: dict[str, list[Any]] = {"accepted": [], "rejected": []}
    for topic, value in got:
        if value.get("source"):
            value["source"]["topic"] = "-"  # the only field naming the (fresh) topic prefix
        # How far this run's follower had read the event logs when it decided: timing, not the
        # decision (the simulator replays by them). Present on every fresh decision.
        if not value["replayed"] and value.get("reason") != "preempted":
            assert value["events_lane_upto"] == len(scenario()[0]) and value["events_task_upto"] is not None, value
        value.pop("events_task_upto", None)
        value.pop("events_lane_upto", None)
        per[names[topic]].append(value)
    return per


def run(bootstrap: str, tmp: Path, restart_at: int | None) -> dict[str, list[Any]]:
    lanes, reqs = scenario()
    topics = fresh_topics(bootstrap)
    data = tmp / topics.prefix
    data.mkdir()
    split = restart_at or len(reqs)
    feed(bootstrap, topics, lanes, reqs, 0, split)
    agent = Agent(bootstrap, topics, data).start()
    try:
        if restart_at is not None:
            asyncio.run(collect(bootstrap, [topics.tasks_accepted, topics.tasks_rejected], restart_at))
            agent.stop()
            feed(bootstrap, topics, lanes, reqs, split, len(reqs))
            agent = Agent(bootstrap, topics, data).start()
        # 41 requests + 7 preemptions: 32 anisora items meet a 25-deep shared queue
        return outputs(bootstrap, topics, 41 + 7)
    finally:
        agent.stop()


def test_same_log_gives_same_decisions(kafka_bootstrap: str, tmp_path: Path) -> None:
    first = run(kafka_bootstrap, tmp_path, None)
    assert len(first["accepted"]) == 41
    assert [d["reason"] for d in first["rejected"]] == ["preempted"] * 7
    assert any(d["replayed"] for d in first["accepted"] + first["rejected"])
    assert run(kafka_bootstrap, tmp_path, None) == first
    assert run(kafka_bootstrap, tmp_path, restart_at=20) == first


NUMBERS = st.one_of(st.integers(min_value=-(2**40), max_value=2**40), st.floats(allow_nan=True),
                    st.text(max_size=5), st.none())


@st.composite
def hostile(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["bytes", "broken", "field", "huge", "nan", "model", "constraint", "dup"]))
    body = json.loads(request(ModelName.phr00t, task_id=f"h-{draw(st.integers(0, 10**9))}").to_wire())
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "broken":
        return body_bytes(body)[: draw(st.integers(0, 60))]
    if kind == "field":
        body[draw(st.sampled_from(sorted(body)))] = draw(NUMBERS)
    elif kind == "huge":
        body["prompt"] = "x" * draw(st.sampled_from([5_000, 70_000]))
    elif kind == "nan":
        return body_bytes(body).replace(b'"cfg":1.0', b'"cfg":NaN')
    elif kind == "model":
        body["model"] = draw(st.text(min_size=1, max_size=20))
    elif kind == "constraint":
        body.update(steps=draw(st.integers(1, 100)), cfg=draw(st.floats(0, 20)),
                    width=draw(st.integers(-100, 3000)), num_frames=draw(st.integers(-5, 300)))
    else:
        body["task_id"] = "dup-1"
    return body_bytes(body)


def body_bytes(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


@pytest.fixture(scope="module")
def flood_agent(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    topics = fresh_topics(kafka_bootstrap)
    publish_now(kafka_bootstrap, [(topics.events_lane, b"l", heartbeat(lane).to_wire()) for lane in RouteLane],
                partition=0)
    agent = Agent(kafka_bootstrap, topics, tmp_path_factory.mktemp("flood")).start()
    yield agent
    agent.stop()


SCHEMA = json_schema(AdmissionDecision)
_sent = {"n": 0}


# No shrinking: each example talks to a live agent, and a failure prints its payloads anyway.
@settings(max_examples=6, deadline=None, phases=(Phase.explicit, Phase.generate), database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(hostile(), min_size=5, max_size=40))
def test_hostile_flood_gets_one_schema_valid_decision_each(flood_agent: Agent, payloads: list[bytes]) -> None:
    topics, bootstrap = flood_agent.topics, flood_agent.bootstrap
    publish_now(bootstrap, [(topics.tasks_requested, None, p) for p in payloads], partition=0)
    _sent["n"] += len(payloads)
    got = asyncio.run(collect(bootstrap, [topics.tasks_accepted, topics.tasks_rejected], _sent["n"]))
    by_offset: dict[int, list[Any]] = {}
    for _, value in got:
        jsonschema.validate(value, SCHEMA)
        assert value["source"] is not None
        by_offset.setdefault(value["source"]["offset"], []).append(value)
    assert len(by_offset) == _sent["n"] and all(len(v) == 1 for v in by_offset.values())
    for _, value in got:
        if value["outcome"] == "rejected" and not value["replayed"]:
            assert value["status"] in (422, 503)
    # still serving: a valid request is accepted right after the flood
    ok = request(ModelName.anisora)
    publish_now(bootstrap, [(topics.tasks_requested, None, ok.to_wire())], partition=0)
    _sent["n"] += 1
    last = asyncio.run(collect(bootstrap, [topics.tasks_accepted, topics.tasks_rejected], _sent["n"]))
    assert any(v["task_id"] == ok.task_id and v["outcome"] == "accepted" for _, v in last)
    assert flood_agent.process is not None and flood_agent.process.poll() is None
