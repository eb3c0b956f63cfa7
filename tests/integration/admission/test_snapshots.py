"""Admission snapshots on the real broker: bad snapshots are ignored, and replay holds across one."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from schemas import ModelName, Priority, RouteLane, Topics
from streams.admission.snapshot import SNAPSHOT_VERSION, pack_snapshot, unpack_snapshot
from tests.broker_io import Logged, decided_topics, publish_now, publishing, read_all, read_log
from tests.factories import request
from tests.integration.admission.harness import START_S, Agent, keyed, lanes_ready, send_at
from tests.integration.admission.test_replay_and_hostile import (
    feed,
    fresh_topics,
    outputs,
    run,
    scenario,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

FILLED = 20
CAP = 25


def snapshots(bootstrap: str, topics: Topics) -> list[Logged]:
    """Every record on the snapshot topic, in log order (1 partition)."""
    return asyncio.run(read_all(bootstrap, [topics.admission_snapshots]))


# --- bad snapshots ------------------------------------------------------------------------------
# The wire format (streams/admission/snapshot_store.py): chunks keyed `chunk/<id>/<n>`, then a JSON
# `head` record naming the id, version, chunk count, first chunk offset, sha256 and size of the
# body; the body is zlib-compressed JSON `{"version", "covers", "state"}` followed by the answers (`pack_snapshot`). Each case appends a
# newer snapshot that must be refused.

def latest_head(real: list[Logged]) -> dict[str, Any]:
    heads = [r for r in real if r.key == b"head" and r.raw is not None]
    assert heads, "no snapshot head on the snapshot topic"
    head: dict[str, Any] = heads[-1].value
    return head


def latest_body(real: list[Logged]) -> bytes:
    head = latest_head(real)
    prefix = f"chunk/{head['snapshot_id']}/".encode()
    chunks = {int(r.key[len(prefix):]): r.raw for r in real
              if r.key is not None and r.key.startswith(prefix) and r.raw is not None}
    body = b"".join(chunks[i] for i in range(head["chunks"]))
    assert hashlib.sha256(body).hexdigest() == head["sha256"]
    return body


def append_snapshot(bootstrap: str, topics: Topics, body: bytes, **head_overrides: Any) -> None:
    """A one-chunk snapshot with its head (fields as the agent writes them, then `head_overrides`)."""
    async def go() -> None:
        async with publishing(bootstrap) as publisher:
            snapshot_id = f"test{uuid.uuid4().hex[:12]}"
            chunk = await publisher.acknowledged(
                (topics.admission_snapshots, f"chunk/{snapshot_id}/0".encode(), body), partition=0)
            head = {"snapshot_id": snapshot_id, "version": SNAPSHOT_VERSION, "chunks": 1,
                    "first_offset": chunk.offset, "sha256": hashlib.sha256(body).hexdigest(),
                    "size": len(body), **head_overrides}
            await publisher.acknowledged((topics.admission_snapshots, b"head", json.dumps(head).encode()),
                                         partition=0)
    asyncio.run(go())


def corrupt_body(bootstrap: str, topics: Topics, real: list[Logged]) -> None:
    """The latest body with bytes flipped in the middle, under a head carrying the original checksum."""
    body = bytearray(latest_body(real))
    middle = len(body) // 2
    body[middle:middle + 8] = bytes(b ^ 0xFF for b in body[middle:middle + 8])
    append_snapshot(bootstrap, topics, bytes(body), sha256=latest_head(real)["sha256"])


def garbage_head(bootstrap: str, topics: Topics, real: list[Logged]) -> None:
    """A head record that is not JSON at all."""
    publish_now(bootstrap, [(topics.admission_snapshots, b"head", b"\x00\xff{not a head")], partition=0)


def unknown_version(bootstrap: str, topics: Topics, real: list[Logged]) -> None:
    """The latest state under the next, unknown version, in the head and in the body."""
    doc, answers = unpack_snapshot(latest_body(real))
    doc["version"] = SNAPSHOT_VERSION + 1
    append_snapshot(bootstrap, topics, pack_snapshot(doc, answers), version=SNAPSHOT_VERSION + 1)


def unknown_body_version(bootstrap: str, topics: Topics, real: list[Logged]) -> None:
    """A current head (valid checksum) over a body that says it is the next version."""
    doc, answers = unpack_snapshot(latest_body(real))
    doc["version"] = SNAPSHOT_VERSION + 1
    append_snapshot(bootstrap, topics, pack_snapshot(doc, answers))


@pytest.mark.parametrize("bad", [corrupt_body, garbage_head, unknown_version, unknown_body_version],
                         ids=lambda f: f.__name__)
def test_bad_snapshot_is_ignored_and_state_rebuilt(kafka_bootstrap: str, topics: Topics, tmp_path: Path,
                                                   bad: Callable[[str, Topics, list[Logged]], None]) -> None:
    base = datetime.now(UTC)
    lanes_ready(kafka_bootstrap, topics, base, lanes=[RouteLane.shared], degraded=[RouteLane.anisora])
    originals = [request(ModelName.anisora, task_id=f"snap-{i}", priority=Priority.background, submitted_at=base)
                 for i in range(FILLED)]
    send_at(kafka_bootstrap, topics, keyed(originals), base + timedelta(seconds=1))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    # leaving the block is a clean shutdown, which writes a snapshot
    with Agent(kafka_bootstrap, topics, tmp_path / "a").running(START_S):
        got = asyncio.run(read_log(kafka_bootstrap, decided_topics(topics), lambda rs: len(rs) >= FILLED))
    accepted = {r.value["task_id"]: r.value for r in got}
    assert Counter(v["outcome"] for v in accepted.values()) == {"accepted": FILLED}
    real = snapshots(kafka_bootstrap, topics)
    assert real, "no snapshot on the snapshot topic after a clean shutdown"
    bad(kafka_bootstrap, topics, real)

    with Agent(kafka_bootstrap, topics, tmp_path / "b").running(START_S) as second:
        warnings = [line for line in second.log_text().splitlines() if "WARNING" in line and "snapshot" in line
                    and ("ignoring" in line or "rebuilding" in line)]
        assert warnings, f"no warning about the bad snapshot in the log:\n{second.log_text()[-3000:]}"
        assert second.metric("framegate_admission_queue_depth", lane="shared") == float(FILLED)
        again = originals[3]
        fresh = [request(ModelName.anisora, task_id=f"after-{i}", priority=Priority.background,
                         submitted_at=base) for i in range(CAP - FILLED + 1)]
        send_at(kafka_bootstrap, topics, keyed([again, *fresh]), base + timedelta(seconds=2))
        everything = asyncio.run(read_log(kafka_bootstrap, decided_topics(topics),
                                          lambda rs: len(rs) >= FILLED + 1 + len(fresh)))
    assert len(everything) == FILLED + 1 + len(fresh)
    (replay,) = [r.value for r in everything if r.value["replayed"]]
    assert (replay["task_id"], replay["outcome"], replay["lane"]) == (again.task_id, "accepted", "shared")
    assert replay["queue_depth"] == accepted[again.task_id]["queue_depth"]
    assert replay.get("replay_of") in (None, accepted[again.task_id]["event_id"])
    after = {r.value["task_id"]: r.value for r in everything if r.value["task_id"].startswith("after-")}
    assert Counter((v["outcome"], v.get("reason")) for v in after.values()) == {
        ("accepted", None): CAP - FILLED, ("rejected", "depth"): 1}


# --- replay determinism across a snapshot boundary -----------------------------------------------

def at_least(count: int) -> Callable[[list[Any]], bool]:
    return lambda records: len(records) >= count


def run_across_snapshot(bootstrap: str, tmp: Path, stops: list[tuple[int, str]]) -> dict[str, list[Any]]:
    """`run` of test_replay_and_hostile, the agent stopped after each `(decided, "term"|"kill")`.

    Periodic snapshots are off (a long interval), so the only snapshots are the shutdown ones of
    a SIGTERM: after a later kill -9 the last start loads a snapshot that covers only part of the
    logs and folds the rest on top.
    """
    lanes, reqs = scenario()
    topics = fresh_topics(bootstrap)
    data = tmp / topics.prefix
    data.mkdir()
    env = {"FRAMEGATE_ADMISSION_SNAPSHOT_INTERVAL_S": "3600"}
    fed = 0
    agent: Agent | None = None
    try:
        for n, (upto, how) in enumerate(stops):
            feed(bootstrap, topics, lanes, reqs, fed, upto)
            fed = upto
            agent = Agent(bootstrap, topics, data, extra_env=env, log_name=f"agent-{n}.log").start(START_S)
            asyncio.run(read_log(bootstrap, decided_topics(topics), at_least(upto)))
            if how == "kill":
                agent.kill()
            else:
                agent.stop()
        assert snapshots(bootstrap, topics), "no snapshot to restart from"
        feed(bootstrap, topics, lanes, reqs, fed, len(reqs))
        agent = Agent(bootstrap, topics, data, extra_env=env, log_name="agent-last.log").start(START_S, loglevel="info")
        result = outputs(bootstrap, topics, 41 + 7)
        every = asyncio.run(read_log(bootstrap, decided_topics(topics), lambda rs: len(rs) >= 41 + 7))
        assert len(every) == 41 + 7, "more decisions than the single-process run"
        # The agent's ready line names the snapshot it started from ("none" after a full fold).
        loaded = re.search(r"snapshot (\S+) \((\d+) tasks\), (\d+) log records folded", agent.log_text())
        assert loaded, f"no start-up report in the restarted agent's log ({agent.log_path})"
        assert loaded.group(1) != "none", "the restart did not start from a snapshot"
        if stops[-1][1] == "kill":
            assert int(loaded.group(3)) > 0, "the snapshot covered everything: no tail was folded"
        print(f"\nrestart after {stops}: snapshot {loaded.group(1)} with {loaded.group(2)} tasks, then "
              f"{loaded.group(3)} log records folded")
        return result
    finally:
        if agent is not None:
            agent.stop()


@pytest.mark.timeout(600)  # six agent starts
def test_replay_is_deterministic_across_a_snapshot(kafka_bootstrap: str, tmp_path: Path) -> None:
    reference = run(kafka_bootstrap, tmp_path, None)
    # the snapshot covers everything decided before the restart
    assert run_across_snapshot(kafka_bootstrap, tmp_path, [(20, "term")]) == reference
    # the snapshot covers the first 10 decisions; 10 more are only in the logs
    assert run_across_snapshot(kafka_bootstrap, tmp_path, [(10, "term"), (20, "kill")]) == reference
