"""The real admission agent against the real broker: overload, wait, priority, fallback, metrics."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest

from schemas import (
    DecisionOutcome,
    GenerationRequest,
    ModelName,
    Priority,
    RejectionCode,
    RouteLane,
    TaskStatus,
    Topics,
)
from schemas.export import export_schemas
from tests.broker_io import collect, decisions, publish_events, publish_now
from tests.factories import heartbeat, request, task_event
from tests.integration.admission.harness import REPO, Agent, lanes_ready

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


@pytest.fixture
def decision_schema(tmp_path: Path) -> dict[str, object]:
    export_schemas(tmp_path / "schemas")
    return json.loads((tmp_path / "schemas" / "AdmissionDecision.schema.json").read_text())  # type: ignore[no-any-return]


def send_requests(bootstrap: str, topics: Topics, reqs: list[GenerationRequest], partition: int | None = None) -> None:
    publish_now(bootstrap, [(topics.tasks_requested, r.task_id.encode(), r.to_wire()) for r in reqs],
                partition=partition)


def lane_cli(agent: Agent, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streams.cli", "lane", *args], env=agent.env, cwd=REPO,
                          capture_output=True, text=True, timeout=60, check=False)


def test_overload_25_accepted_75_refused(kafka_bootstrap: str, topics: Topics, tmp_path: Path,
                                          decision_schema: dict[str, object]) -> None:
    publish_events(kafka_bootstrap, topics.events_lane, [heartbeat(RouteLane.shared)], "shared")
    agent = Agent(kafka_bootstrap, topics, tmp_path).start()
    try:
        assert agent.metric("framegate_admission_lane_mode", lane="anisora", mode="dedicated") == 1.0
        done = lane_cli(agent, "degrade", "anisora", "--reason", "capacity")
        assert done.returncode == 0, done.stdout + done.stderr
        assert lane_cli(agent, "degrade", "shared", "--reason", "manual").returncode == 2
        (_, fallback), = asyncio.run(collect(kafka_bootstrap, [topics.events_memory], 1))
        assert fallback["event_type"] == "fallback_activated" and fallback["reason"] == "capacity"
        assert fallback["lane_mode"] == "degraded_shared"

        send_requests(kafka_bootstrap, topics, [request(ModelName.anisora) for _ in range(100)])
        got = decisions(kafka_bootstrap, topics, 100)
        outcomes = Counter(d.outcome for d in got)
        assert outcomes == {DecisionOutcome.accepted: 25, DecisionOutcome.rejected: 75}
        for d in got:
            jsonschema.validate(json.loads(d.to_wire()), decision_schema)
            if d.outcome is DecisionOutcome.rejected:
                assert (d.status, d.code, d.reason, d.queue_depth) == (503, RejectionCode.queue_overloaded,
                                                                       "depth", 25)
            else:
                assert d.lane is RouteLane.shared and d.request is not None
        memory = asyncio.run(collect(kafka_bootstrap, [topics.events_memory], 76))
        overloaded = [m for _, m in memory if m["event_type"] == "queue_overloaded"]
        assert len(overloaded) == 75 and all(m["value"] == 25 for m in overloaded)
        tasks = asyncio.run(collect(kafka_bootstrap, [topics.events_task], 100))
        assert Counter(t["task"]["status"] for _, t in tasks) == {"pending": 25, "failed": 75}
        lane_items = asyncio.run(collect(kafka_bootstrap, [topics.lane(RouteLane.shared)], 25))
        assert len(lane_items) == 25

        assert agent.metric("framegate_admission_queue_depth", lane="shared") == 25.0
        assert agent.metric("framegate_admission_decisions_total", outcome="rejected",
                            code="queue_overloaded", lane="shared") == 75.0
        assert agent.metric("framegate_admission_lane_mode", lane="anisora", mode="degraded_shared") == 1.0
        assert (agent.metric("framegate_admission_decision_latency_seconds_count") or 0) >= 100
        restored = lane_cli(agent, "restore", "anisora")
        assert restored.returncode == 0 and "dedicated" in restored.stdout
    finally:
        agent.stop()


def test_wait_refusal_at_depth_k(kafka_bootstrap: str, topics: Topics, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    lanes_ready(kafka_bootstrap, topics, now, lanes=[RouteLane.shared], degraded=[RouteLane.phr00t])
    # Observed service time 4 s: at depth 8 the wait is 32 s > 30 s, so item 9 is refused.
    done = [task_event(TaskStatus.done, f"seen-{i}", RouteLane.shared, at=now, worker_id="w", duration_seconds=4.0,
                       artifact_path="a.mp4")
            for i in range(3)]
    publish_events(kafka_bootstrap, topics.events_task, done, "seen")
    agent = Agent(kafka_bootstrap, topics, tmp_path).start()
    try:
        send_requests(kafka_bootstrap, topics, [request(ModelName.phr00t) for _ in range(9)], partition=0)
        got = decisions(kafka_bootstrap, topics, 9)
        accepted = [d for d in got if d.outcome is DecisionOutcome.accepted]
        (refused,) = [d for d in got if d.outcome is DecisionOutcome.rejected]
        assert len(accepted) == 8 and max(d.estimated_wait_seconds or 0 for d in accepted) == 28.0
        assert (refused.code, refused.reason, refused.estimated_wait_seconds) == (
            RejectionCode.queue_overloaded, "wait", 32.0)
        memory = asyncio.run(collect(kafka_bootstrap, [topics.events_memory], 1))
        assert memory[0][1]["value"] == 32.0 and memory[0][1]["value_unit"] == "wait_seconds"
    finally:
        agent.stop()


def test_priority_preemption_and_full_critical_queue(kafka_bootstrap: str, topics: Topics, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    lanes_ready(kafka_bootstrap, topics, now, lanes=[RouteLane.shared], degraded=[RouteLane.anisora])
    agent = Agent(kafka_bootstrap, topics, tmp_path).start()
    try:
        background = [request(priority=Priority.background) for _ in range(25)]
        critical = request(priority=Priority.critical, producer="ops", width=1280, height=720)
        intruder = request(priority=Priority.critical, producer="mallory")
        send_requests(kafka_bootstrap, topics, [*background, critical, intruder], partition=0)
        got = decisions(kafka_bootstrap, topics, 28)
        by_task = {d.task_id: d for d in got if d.reason != "preempted"}
        assert by_task[critical.task_id].outcome is DecisionOutcome.accepted
        assert by_task[critical.task_id].degradations == []
        assert (by_task[intruder.task_id].status, by_task[intruder.task_id].code) == (
            403, RejectionCode.priority_not_authorised)
        (preempted,) = [d for d in got if d.reason == "preempted"]
        assert preempted.task_id == background[-1].task_id and preempted.code is RejectionCode.queue_overloaded
        tasks = asyncio.run(collect(kafka_bootstrap, [topics.events_task], 28))
        failed = {t["task"]["id"] for _, t in tasks if t["task"]["status"] == "failed"}
        assert failed == {background[-1].task_id, intruder.task_id}

        # A worker starts every queued item: the queue empties, then fills with critical work.
        queued = [b.task_id for b in background[:-1]] + [critical.task_id]
        started = [task_event(TaskStatus.processing, t, RouteLane.shared, model="anisora", at=now, worker_id="w")
                   for t in queued]
        publish_events(kafka_bootstrap, topics.events_task, started, "x")
        from tests.waiting import wait_until

        wait_until(lambda: agent.metric("framegate_admission_queue_depth", lane="shared") == 0.0, 30)
        crits = [request(priority=Priority.critical, producer="ops") for _ in range(26)]
        send_requests(kafka_bootstrap, topics, crits, partition=0)
        # Selected by task id: the two decision topics interleave in no defined order.
        crit_ids = {c.task_id for c in crits}
        later = [d for d in decisions(kafka_bootstrap, topics, 28 + 26) if d.task_id in crit_ids]
        final = {d.task_id: d for d in later}
        assert [final[c.task_id].outcome for c in crits] == [DecisionOutcome.accepted] * 25 + [
            DecisionOutcome.rejected]
        assert final[crits[-1].task_id].code is RejectionCode.queue_overloaded
        assert not any(d.reason == "preempted" for d in later)
    finally:
        agent.stop()


def test_resent_task_id_gets_same_decision(kafka_bootstrap: str, topics: Topics, tmp_path: Path) -> None:
    publish_events(kafka_bootstrap, topics.events_lane, [heartbeat(RouteLane.phr00t)], "phr00t")
    agent = Agent(kafka_bootstrap, topics, tmp_path).start()
    try:
        req = request(ModelName.phr00t)
        send_requests(kafka_bootstrap, topics, [req, req], partition=0)
        first, second = decisions(kafka_bootstrap, topics, 2)
        assert first.outcome is DecisionOutcome.accepted and not first.replayed
        assert second.replayed and second.lane == first.lane and second.replay_of == first.event_id
        assert second.request is None  # the admitted request is on tasks.accepted once
        items = asyncio.run(collect(kafka_bootstrap, [topics.lane(RouteLane.phr00t)], 1))
        assert len(items) == 1
        assert agent.metric("framegate_admission_queue_depth", lane="phr00t") == 1.0
    finally:
        agent.stop()


def test_missing_heartbeat_fails_closed(kafka_bootstrap: str, topics: Topics, tmp_path: Path) -> None:
    stale = datetime.now(UTC) - timedelta(hours=1)
    publish_events(kafka_bootstrap, topics.events_lane, [heartbeat(RouteLane.anisora, stale)], "anisora")
    agent = Agent(kafka_bootstrap, topics, tmp_path).start()
    try:
        send_requests(kafka_bootstrap, topics, [request(ModelName.anisora), request(ModelName.phr00t)], 0)
        a, p = decisions(kafka_bootstrap, topics, 2)
        assert (a.code, a.reason) == (RejectionCode.lane_unavailable, "stale_signal")
        assert (p.code, p.reason) == (RejectionCode.lane_unavailable, "missing_signal")
    finally:
        agent.stop()
