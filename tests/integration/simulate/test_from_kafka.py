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

from schemas import ModelName, Priority, RouteLane, TaskEvent, TaskStatus, Topics
from schemas.settings import Settings
from streams.simulate.kafka_input import read_kafka
from streams.simulate.run import simulate
from streams.simulate.scenario import Scenario
from streams.simulate.window import Window
from tests.broker_io import Logged, Placed, decided_topics, publish_now, read_log
from tests.factories import request, task_event
from tests.integration.admission.harness import Agent, lane_events

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def done(i: int, at: datetime) -> TaskEvent:
    return task_event(TaskStatus.done, f"earlier-{i}", at=at, worker_id=None, duration_seconds=0.5,
                      artifact_path="/a.mp4")


def record(bootstrap: str, topics: Topics) -> None:
    base = datetime.now(UTC).replace(microsecond=0)
    ms = int(base.timestamp() * 1000)
    lanes = lane_events(base, degraded=[RouteLane.anisora])
    reqs = []
    for i in range(40):
        priority = Priority.background if i < 28 else (Priority.standard if i < 34 else Priority.critical)
        model = ModelName.anisora if i % 5 else ModelName.phr00t
        reqs.append(request(model, task_id=f"sim-{i}", priority=priority, producer="ops" if i % 3 else "nobody",
                            width=1280 if i % 2 else 832, height=720 if i % 2 else 480,
                            submitted_at=base))
    reqs.append(request(ModelName.anisora, task_id="sim-3", submitted_at=base))  # re-sent id
    records: list[Placed] = []
    records += [Placed(topics.events_lane, b"lane", e.to_wire(), 0, ms) for e in lanes]
    records += [Placed(topics.events_task, b"t", done(i, base).to_wire(), 0, ms) for i in range(3)]
    start = int((base + timedelta(seconds=1)).timestamp() * 1000)
    records += [Placed(topics.tasks_requested, None, r.to_wire(), 0, start + 10 * i) for i, r in enumerate(reqs)]
    records.append(Placed(topics.tasks_requested, None, b"{not json", 0, start + 10 * len(reqs)))
    publish_now(bootstrap, records)


def every_request_decided(records: list[Logged]) -> bool:
    """Each of the 40 ids, the re-sent one's replay and the malformed record have a decision."""
    ids = {r.value.get("task_id") for r in records}
    replayed = any(r.value.get("replayed") for r in records)
    return {f"sim-{i}" for i in range(40)} <= ids and None in ids and replayed


def test_a_recorded_log_is_reproduced_from_kafka(kafka_bootstrap: str, topics: Topics, tmp_path: Path) -> None:
    record(kafka_bootstrap, topics)
    agent = Agent(kafka_bootstrap, topics, tmp_path).start()
    try:
        # every request answered (preemptions add decisions, so a count of records is not enough)
        asyncio.run(read_log(kafka_bootstrap, decided_topics(topics), every_request_decided))
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
    # critical requests 36 and 39 come from a producer not trusted with critical
    assert report.recorded.refused.get("priority_not_authorised", 0) == 2
    assert report.recorded.refused.get("malformed_request", 0) == 1
    assert history.preemptions, "the log was meant to preempt background work"
