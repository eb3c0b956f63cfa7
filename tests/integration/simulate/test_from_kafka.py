"""`--from-kafka`: a log the real admission agent decided, read back from the broker and replayed.

The agent (a subprocess, real broker) decides 41 requests that fill, overflow and preempt the
shared queue, with a re-sent task id and critical work; the simulator reads the five logs and
must give back every decision (outcome and code per request and per preempted task).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas import GenerationTask, ModelName, Priority, RouteLane, TaskEvent, TaskStatus, Topics
from schemas.settings import Settings
from streams.simulate.kafka_input import read_kafka
from streams.simulate.run import simulate
from streams.simulate.scenario import Scenario
from streams.simulate.window import Window
from tests.integration.admission.harness import Agent, collect, heartbeat, publish
from tests.unit.admission.helpers import degrade, request

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def done(i: int, at: datetime) -> TaskEvent:
    task = GenerationTask(id=f"earlier-{i}", model="phr00t", type="image_to_video", status=TaskStatus.done,
                          created_at=at, updated_at=at)
    return TaskEvent(occurred_at=at, task=task, lane=RouteLane.phr00t, duration_seconds=0.5, artifact_path="/a.mp4")


def record(bootstrap: str, topics: Topics) -> None:
    base = datetime.now(UTC).replace(microsecond=0)
    ms = int(base.timestamp() * 1000)
    lanes = [heartbeat(lane, base, worker=f"w-{lane.value}") for lane in RouteLane]
    lanes.append(degrade(RouteLane.anisora, when=base))
    reqs = []
    for i in range(40):
        priority = Priority.background if i < 28 else (Priority.standard if i < 34 else Priority.critical)
        model = ModelName.anisora if i % 5 else ModelName.phr00t
        reqs.append(request(model, task_id=f"sim-{i}", priority=priority, producer="ops" if i % 3 else "nobody",
                            width=1280 if i % 2 else 832, height=720 if i % 2 else 480,
                            submitted_at=base))
    reqs.append(request(ModelName.anisora, task_id="sim-3", submitted_at=base))  # re-sent id
    records: list[tuple[str, bytes, bytes | None, int | None, int | None]] = []
    records += [(topics.events_lane, e.to_wire(), b"lane", 0, ms) for e in lanes]
    records += [(topics.events_task, done(i, base).to_wire(), b"t", 0, ms) for i in range(3)]
    start = int((base + timedelta(seconds=1)).timestamp() * 1000)
    records += [(topics.tasks_requested, r.to_wire(), None, 0, start + 10 * i) for i, r in enumerate(reqs)]
    records.append((topics.tasks_requested, b"{not json", None, 0, start + 10 * len(reqs)))
    asyncio.run(publish(bootstrap, records))


def test_a_recorded_log_is_reproduced_from_kafka(kafka_bootstrap: str, topics: Topics, tmp_path: Path) -> None:
    record(kafka_bootstrap, topics)
    agent = Agent(kafka_bootstrap, topics, tmp_path).start()
    try:
        asyncio.run(collect(kafka_bootstrap, [topics.tasks_accepted, topics.tasks_rejected], 42))
    finally:
        agent.stop()
    settings = Settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=topics.prefix,
                        admission_heartbeat_stale_s=600)  # as the harness runs the agent
    history = read_kafka(settings, Window())
    assert len(history.arrivals) == 42
    report = simulate(history, settings, [Scenario(name="two shared", workers={RouteLane.shared: 2})])
    fidelity = report.fidelity
    assert fidelity.disagreements == [], [d.__dict__ for d in fidelity.disagreements]
    assert fidelity.compared == 42 + len(history.preemptions)
    # the 40 fresh decisions name their folded positions; the re-sent id and the bad bytes do not
    assert fidelity.by_position == 40
    assert report.recorded.refused.get("priority_not_authorised", 0) >= 1
    assert report.recorded.refused.get("malformed_request", 0) == 1
    assert history.preemptions, "the log was meant to preempt background work"
