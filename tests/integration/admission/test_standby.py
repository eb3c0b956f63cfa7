"""Active + standby admission on the real broker: kill -9 under load, and the roles they report."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from schemas import GenerationRequest, ModelName, Priority, SourceRecord, Topics
from streams.admission.events import event_id, origin_of
from tests.broker_io import (
    Logged,
    committed_offset,
    decided_topics,
    publish,
    publishing,
    read_log,
    reading,
)
from tests.factories import invalid_wire, request
from tests.integration.admission.harness import START_S, Agent, keyed, lanes_ready, send_at
from tests.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

RATE = 100  # requests/s
SECONDS = 20
KILL_AFTER_S = 7
#: Every INVALID_EVERY-th request has an invalid body (a 422 with its task id): rejections fail over too.
INVALID_EVERY = 40


def steady_request(i: int) -> bytes:
    model = ModelName.anisora if i % 3 else ModelName.phr00t
    req = request(model, task_id=f"load-{i}", priority=(Priority.background, Priority.standard)[i % 2],
                  submitted_at=datetime.now(UTC))
    return invalid_wire(req) if i % INVALID_EVERY == INVALID_EVERY - 1 else req.to_wire()


async def steady_load(bootstrap: str, topics: Topics, count: int, rate: float, kill_at: int,
                      pair_: tuple[Agent, Agent]) -> tuple[float, Agent]:
    """Publishes `count` requests paced at `rate`/s; kills the agent of `pair_` that is active (-9)
    before request `kill_at` (the group may have given the partition to the newer one when it
    joined); returns the time of the kill and the other agent."""
    killed_at, survivor = 0.0, pair_[1]
    async with publishing(bootstrap) as publisher:
        started = time.monotonic()
        for i in range(count):
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)  # pacing the load, not waiting on a condition
            if i == kill_at:
                victim, survivor = pair_ if pair_[0].role() == "active" else pair_[::-1]
                killed_at = victim.kill()
            await publisher.send((topics.tasks_requested, f"load-{i}".encode(), steady_request(i)), partition=0)
    return killed_at, survivor


def decided_ids(records: list[Logged]) -> set[str]:
    return {r.value["task_id"] for r in records if r.value.get("task_id") and not r.value.get("replayed")}


def pair(bootstrap: str, topics: Topics, tmp: Path) -> tuple[Agent, Agent]:
    (tmp / "a").mkdir()
    (tmp / "b").mkdir()
    active = Agent(bootstrap, topics, tmp / "a").start(START_S)
    active.wait_role("active")
    standby = Agent(bootstrap, topics, tmp / "b").start(START_S)
    standby.wait_role("standby")
    assert active.role() == "active", "the first agent lost its role when the standby joined"
    return active, standby


def test_kill_active_under_load_standby_takes_over(kafka_bootstrap: str, topics: Topics, tmp_path: Path) -> None:
    lanes_ready(kafka_bootstrap, topics)
    active, standby = pair(kafka_bootstrap, topics, tmp_path)
    count = RATE * SECONDS
    try:
        killed_at, standby = asyncio.run(steady_load(kafka_bootstrap, topics, count, RATE, RATE * KILL_AFTER_S,
                                                     (active, standby)))
        sent = {f"load-{i}" for i in range(count)}
        names = decided_topics(topics)
        records = asyncio.run(read_log(kafka_bootstrap, names, lambda rs: decided_ids(rs) >= sent, 120))
        standby_role = standby.role()
        standby_log = standby.log_text()
    finally:
        active.stop()
        standby.stop()

    per_task = Counter(r.value["task_id"] for r in records)
    replayed = [r.value["task_id"] for r in records if r.value.get("replayed")]
    after = sorted(r.timestamp_ms for r in records if r.timestamp_ms / 1000 > killed_at)
    takeover = after[0] / 1000 - killed_at if after else float("nan")
    print(f"\nstandby takeover: {takeover:.2f} s from kill -9 to the first decision after it; "
          f"{len(records)} decisions for {count} requests, {len(after)} of them after the kill, "
          f"{len(replayed)} replayed")
    assert set(per_task) == sent, f"undecided: {sorted(sent - set(per_task))[:10]}"
    assert not replayed, f"requests decided twice (second time as a replay): {replayed[:10]}"
    assert [t for t, n in per_task.items() if n != 1] == [], "a task id got more than one decision"
    ids = Counter(r.value["event_id"] for r in records)
    assert [e for e, n in ids.items() if n != 1] == [], "an event_id appears more than once"
    offsets = sorted(r.value["source"]["offset"] for r in records)
    assert offsets == list(range(count)), "not exactly one decision per tasks.requested offset"
    for r in records:
        src = SourceRecord.model_validate(r.value["source"])
        assert r.value["event_id"] == str(event_id(origin_of(src, None, datetime.now(UTC)), "decision"))
    outcomes = Counter((r.value["outcome"], r.value.get("code")) for r in records)
    assert outcomes == {("accepted", None): count - count // INVALID_EVERY,
                        ("rejected", "validation_error"): count // INVALID_EVERY}, outcomes
    assert after, "nothing was decided after the kill"
    assert standby_role == "active", f"standby never became active; its log:\n{standby_log[-3000:]}"


#: Tries at killing the active agent after its outputs and before its commit (its commit timer
#: can win the race; then the standby takes over and the next try kills that one).
KILL_TRIES = 4


async def decided_now(bootstrap: str, topics: Topics, batch: list[GenerationRequest]) -> None:
    """Publish `batch` and return as soon as every one of its decisions is readable."""
    waiting = {r.task_id.encode() for r in batch}
    async with reading(bootstrap, decided_topics(topics), from_end=True) as decided:
        await publish(bootstrap, [(topics.tasks_requested, r.task_id.encode(), r.to_wire()) for r in batch],
                      partition=0)
        await decided.until(lambda rs: waiting <= {r.key for r in rs}, 60)


def test_kill_between_outputs_and_commit_the_standby_decides_the_same(kafka_bootstrap: str, topics: Topics,
                                                                      tmp_path: Path) -> None:
    lanes_ready(kafka_bootstrap, topics)
    active, standby = pair(kafka_bootstrap, topics, tmp_path)
    group, names = f"{topics.prefix}admission", decided_topics(topics)
    sent: list[str] = []
    try:
        for attempt in range(KILL_TRIES):
            batch = [request(ModelName.anisora if i % 2 else ModelName.phr00t, task_id=f"gap-{attempt}-{i}",
                             submitted_at=datetime.now(UTC)) for i in range(10)]
            asyncio.run(decided_now(kafka_bootstrap, topics, batch))
            sent += [r.task_id for r in batch]
            if standby.role() == "active":  # the group gave the partition to the newer member
                active, standby = standby, active
            killed_at = active.kill()
            if committed_offset(kafka_bootstrap, group, topics.tasks_requested) < len(sent):
                break  # outputs acknowledged, offsets not committed: the window under test
            standby.wait_role("active", START_S)
            (tmp_path / f"c{attempt}").mkdir()
            active, standby = standby, Agent(kafka_bootstrap, topics, tmp_path / f"c{attempt}").start(START_S)
            standby.wait_role("standby")
        else:
            pytest.fail(f"the commit came before every one of {KILL_TRIES} kills")
        standby.wait_role("active", START_S)
        takeover = time.time() - killed_at
        # the new owner reads from the dead one's last commit and commits past what it finds decided
        wait_until(lambda: committed_offset(kafka_bootstrap, group, topics.tasks_requested) == len(sent), 30, 0.2,
                   what="the new owner's commit past the requests the dead owner decided")
        late = request(ModelName.phr00t, task_id="after-takeover", submitted_at=datetime.now(UTC))
        send_at(kafka_bootstrap, topics, keyed([late]), datetime.now(UTC))
        records = asyncio.run(read_log(kafka_bootstrap, names, lambda rs: "after-takeover" in decided_ids(rs)))
    finally:
        active.stop()
        standby.stop()
    print(f"\nkill -9 after the outputs, before the commit: the standby was active {takeover:.2f} s later")
    by_task: dict[str, set[str]] = {}
    for r in records:
        by_task.setdefault(r.value["task_id"], set()).add(r.value["event_id"])
        src = SourceRecord.model_validate(r.value["source"])
        assert r.value["event_id"] == str(event_id(origin_of(src, None, datetime.now(UTC)), "decision"))
    assert set(by_task) == {*sent, "after-takeover"}
    assert [t for t, ids in by_task.items() if len(ids) != 1] == [], "a request decided with two ids"
    assert all(r.value["outcome"] == "accepted" for r in records)


def health_of(body: dict[str, object] | None) -> tuple[object, object] | None:
    return (body.get("role"), body.get("ready")) if body is not None else None


def test_roles_and_readiness(kafka_bootstrap: str, topics: Topics, tmp_path: Path) -> None:
    lanes_ready(kafka_bootstrap, topics)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = Agent(kafka_bootstrap, topics, tmp_path / "a").launch()
    second = Agent(kafka_bootstrap, topics, tmp_path / "b")
    try:
        seen: list[dict[str, object]] = []

        def ready_health(agent: Agent) -> bool:
            health = agent.healthz()
            if health is not None:
                seen.append(health)
            return bool(health and health.get("ready"))

        wait_until(lambda: ready_health(first), START_S, 0.1, what="first agent /healthz ready")
        first.wait_role("active", 30)
        assert health_of(first.healthz()) == ("active", True)
        assert first.metric("framegate_admission_ready") == 1.0
        assert first.metric("framegate_admission_role", role="standby") != 1.0
        assert (first.metric("framegate_admission_startup_seconds") or 0.0) > 0.0

        second.launch()
        wait_until(lambda: ready_health(second), START_S, 0.1, what="second agent /healthz ready")
        second.wait_role("standby", 30)
        assert health_of(second.healthz()) == ("standby", True)
        assert second.metric("framegate_admission_ready") == 1.0
        assert second.metric("framegate_admission_role", role="active") != 1.0
        assert health_of(first.healthz()) == ("active", True)
        for health in seen:
            assert health["role"] in ("starting", "active", "standby"), health
            assert health["ready"] == (health["role"] != "starting"), health

        one = request(ModelName.phr00t, task_id="role-1", submitted_at=datetime.now(UTC))
        send_at(kafka_bootstrap, topics, keyed([one]), datetime.now(UTC))
        names = decided_topics(topics)
        asyncio.run(read_log(kafka_bootstrap, names, lambda rs: "role-1" in decided_ids(rs)))

        first.stop()  # SIGTERM: a clean hand-over
        second.wait_role("active", 30)
        assert health_of(second.healthz()) == ("active", True)
        two = request(ModelName.anisora, task_id="role-2", submitted_at=datetime.now(UTC))
        send_at(kafka_bootstrap, topics, keyed([two]), datetime.now(UTC))
        records = asyncio.run(read_log(kafka_bootstrap, names, lambda rs: "role-2" in decided_ids(rs)))
        assert Counter(r.value["task_id"] for r in records) == {"role-1": 1, "role-2": 1}
        assert all(r.value["outcome"] == "accepted" and not r.value["replayed"] for r in records)
    finally:
        first.stop()
        second.stop()
