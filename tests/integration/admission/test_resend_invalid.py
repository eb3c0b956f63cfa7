"""Issue 9's sequence on the real broker: invalid re-sends of decided ids cannot bypass the queue cap."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas import ModelName, Priority, RouteLane, Topics
from tests.broker_io import Logged, decided_topics, read_log
from tests.factories import invalid_wire, request
from tests.integration.admission.harness import START_S, Agent, keyed, lanes_ready, send_at

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

CAP = 25


def phase(records: list[Logged], prefix: str, rejected: bool = False) -> list[Logged]:
    return [r for r in records if (r.value["task_id"] or "").startswith(prefix) and not r.value["replayed"]
            and (not rejected or r.value["outcome"] == "rejected")]


def test_invalid_resends_do_not_touch_decided_tasks(kafka_bootstrap: str, topics: Topics, tmp_path: Path) -> None:
    base = datetime.now(UTC)
    lanes_ready(kafka_bootstrap, topics, base, lanes=[RouteLane.shared], degraded=[RouteLane.anisora])
    decided = decided_topics(topics)
    with Agent(kafka_bootstrap, topics, tmp_path).running(START_S) as agent:
        # 1. fill the shared queue with 25 accepted background anisora requests
        originals = [request(ModelName.anisora, task_id=f"fill-{i}", priority=Priority.background,
                             submitted_at=base) for i in range(CAP)]
        send_at(kafka_bootstrap, topics, keyed(originals), base)
        first = asyncio.run(read_log(kafka_bootstrap, decided, lambda rs: len(rs) >= CAP))
        assert Counter(r.value["outcome"] for r in first) == {"accepted": CAP}
        assert {r.value["lane"] for r in first} == {"shared"}
        accepted = {r.value["task_id"]: r.value for r in first}

        # 2. re-send 24 of those ids with an invalid body: 422 each, marked decided_earlier
        resent = originals[:CAP - 1]
        send_at(kafka_bootstrap, topics, [(r.task_id, invalid_wire(r)) for r in resent],
                base + timedelta(seconds=1))
        second = phase(asyncio.run(read_log(kafka_bootstrap, decided, lambda rs: len(rs) >= 2 * CAP - 1)),
                       "fill-", rejected=True)
        assert len(second) == CAP - 1
        for r in second:
            v = r.value
            assert r.topic == topics.tasks_rejected, v
            assert (v["outcome"], v["status"], v["code"]) == ("rejected", 422, "validation_error"), v
            assert v.get("decided_earlier") is True, v
            assert any("steps" in [*e["loc"], e["msg"]] or "steps" in e["msg"] for e in v["errors"]), v["errors"]
        assert sorted(r.value["task_id"] for r in second) == sorted(r.task_id for r in resent)
        assert agent.metric("framegate_admission_queue_depth", lane="shared") == float(CAP)

        # 3. 25 new valid requests: the queue is full, none is accepted
        fresh = [request(ModelName.anisora, task_id=f"new-{i}", priority=Priority.background,
                         submitted_at=base) for i in range(CAP)]
        send_at(kafka_bootstrap, topics, keyed(fresh), base + timedelta(seconds=2))
        third = phase(asyncio.run(read_log(kafka_bootstrap, decided, lambda rs: len(rs) >= 3 * CAP - 1)), "new-")
        assert len(third) == CAP
        assert Counter((r.value["outcome"], r.value.get("code"), r.value.get("reason")) for r in third) == {
            ("rejected", "queue_overloaded", "depth"): CAP}
        assert {r.value["queue_depth"] for r in third} == {CAP}
        assert agent.metric("framegate_admission_queue_depth", lane="shared") == float(CAP)

        # 4. a valid re-send of an original id gets its original acceptance, replayed
        again = originals[3]
        send_at(kafka_bootstrap, topics, keyed([again]), base + timedelta(seconds=3))
        everything = asyncio.run(read_log(kafka_bootstrap, decided, lambda rs: len(rs) >= 3 * CAP))
        (replay,) = [r for r in everything if r.value["replayed"]]
        assert len(everything) == 3 * CAP, "more decisions than requests"
        original = accepted[again.task_id]
        assert replay.value["replayed"] is True and replay.value["outcome"] == "accepted", replay.value
        assert replay.value.get("replay_of") in (None, original["event_id"])
        same = ("task_id", "model", "priority", "lane", "lane_mode", "queue_depth", "estimated_wait_seconds",
                "time_to_ready_seconds", "degradations")
        assert {k: replay.value.get(k) for k in same} == {k: original.get(k) for k in same}
        assert replay.value["event_id"] != original["event_id"]
        assert agent.metric("framegate_admission_queue_depth", lane="shared") == float(CAP)

        # No task event for the invalid re-sends (nor the replay): 25 pending originals, 25 failed new.
        # Outputs are flushed per batch in order, so everything decided above is in the logs by now.
        tasks = asyncio.run(read_log(kafka_bootstrap, [topics.events_task], lambda rs: len(rs) >= 2 * CAP))
        statuses = Counter((r.value["task"]["id"].split("-")[0], r.value["task"]["status"]) for r in tasks)
        assert statuses == {("fill", "pending"): CAP, ("new", "failed"): CAP}, statuses
        # The lane topic holds exactly the 25 accepted items, each once.
        items = asyncio.run(read_log(kafka_bootstrap, [topics.lane(RouteLane.shared)],
                                     lambda rs: len(rs) >= CAP))
        assert sorted(r.value["task_id"] for r in items) == sorted(r.task_id for r in originals)
