"""Admission restart and standby takeover on a synthesised long history (a benchmark, not a test).

Starts its own tansu broker on a free loopback port (stopped by pid at the end) and writes, with
past record timestamps:
- `--tasks` decided tasks (default 500,000): each an `AdmissionDecision` on `tasks.accepted` whose
  `source` is its offset on `tasks.requested` (which holds the requests), plus its `processing`
  and `done` TaskEvents on `events.task` (a legal history: pending -> done alone is refused); `--old` of them (default 400,000) are older than the dedup window
  (`FRAMEGATE_ADMISSION_DEDUP_RETENTION_H`), the rest fall inside it;
- `--hours` of heartbeats (default 24) for `--workers` workers (default 6), one per worker per
  second, on `events.lane`;
- the admission group's committed offset on `tasks.requested` at its end (every request decided).

Then prints, in one run:
0. the baseline: process start -> ready on empty logs (interpreter, imports, group join), RSS;
1. process start -> ready with FRAMEGATE_ADMISSION_SNAPSHOTS=false (a full fold of the logs), RSS;
2. the same with a snapshot: a first start writes it (after its rebuild / on SIGTERM), then a
   second start is timed, RSS;
3. a standby takeover: active + standby on the snapshot, light load, kill -9 of the active ->
   first decision written after the kill.
"start -> ready" is timed from outside: process spawn to the `framegate_admission_ready` gauge (50 ms
polls), so it includes the interpreter and imports; the agent's own
`framegate_admission_startup_seconds` (printed beside it) starts after its imports.
Targets (issue 10): ready <= 3 s with a snapshot, RSS <= 300 MB once ready, takeover <= 10 s.

Usage: .venv/bin/python bench/admission_restart.py [--tasks 500000] [--old 400000] [--hours 24]
       (quick run: --tasks 20000 --old 16000 --hours 1)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from confluent_kafka import Producer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.recorded_figures import (
    record,  # bench/recorded_figures.py: the performance page's figures
)
from schemas import (
    AdmissionDecision,
    DecisionOutcome,
    GenerationRequest,
    GenerationTask,
    HostPressure,
    LaneEvent,
    LaneEventType,
    LaneMode,
    ModelName,
    RouteLane,
    SourceRecord,
    TaskEvent,
    TaskStatus,
    Topics,
)
from schemas.settings import Settings
from streams.local_stack.broker import LocalBroker, free_port
from streams.local_stack.topics import create_topics
from tests.integration.admission.harness import Agent
from tests.waiting import wait_until

TASK = "TASKIDTOKEN0000"
EVENT = "00000000-0000-4000-8000-0000000000ee"
WHEN = datetime(2001, 1, 1, tzinfo=UTC)
DONE = datetime(2002, 2, 2, tzinfo=UTC)
STARTED = datetime(2003, 3, 3, tzinfo=UTC)
OFFSET = 987654321
WORKER = "WORKERTOKEN"
PROMPT = ("a lighthouse on a basalt cliff at dusk, waves breaking below, slow dolly-in, volumetric fog, "
          "warm light from the lamp room sweeping across low clouds, gulls circling, film grain; ")
TOKENS = (TASK, EVENT, WHEN.strftime("%Y-%m-%dT%H:%M:%SZ"), DONE.strftime("%Y-%m-%dT%H:%M:%SZ"), str(OFFSET),
          WORKER, STARTED.strftime("%Y-%m-%dT%H:%M:%SZ"))


def fmt(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Template:
    """Serialised once; `fill` puts per-record values where the sentinel tokens were."""

    def __init__(self, wire: bytes) -> None:
        text = wire.decode().replace("%", "%%")
        found = sorted((at, t) for t in TOKENS for at in occurrences(text, t))
        self.order = [t for _, t in found]
        for token in TOKENS:
            text = text.replace(token, "%s")
        self.text = text

    def fill(self, values: dict[str, object]) -> str:
        return self.text % tuple(values[t] for t in self.order)


def occurrences(text: str, token: str) -> list[int]:
    found, at = [], text.find(token)
    while at >= 0:
        found.append(at)
        at = text.find(token, at + 1)
    return found


def templates(topics: Topics, prompt_chars: int
              ) -> tuple[Template, Template, Template, Template, dict[RouteLane, Template]]:
    prompt = (PROMPT * (prompt_chars // len(PROMPT) + 1))[:prompt_chars]
    request = GenerationRequest(task_id=TASK, model=ModelName.anisora, prompt=prompt, input_image="file:///in/a.png",
                                steps=8, cfg=1.0, width=832, height=480, num_frames=81, fps=16, submitted_at=WHEN)
    decision = AdmissionDecision(
        event_id=uuid.UUID(EVENT), occurred_at=WHEN, outcome=DecisionOutcome.accepted, task_id=TASK,
        model=ModelName.anisora, priority=request.priority, lane=RouteLane.anisora, lane_mode=LaneMode.dedicated,
        queue_depth=1, estimated_wait_seconds=0.0, time_to_ready_seconds=0.0, request=request,
        source=SourceRecord(topic=topics.tasks_requested, partition=0, offset=OFFSET),
    )
    done = TaskEvent(
        event_id=uuid.UUID(EVENT), occurred_at=DONE, lane=RouteLane.anisora, worker_id="anisora-0",
        task=GenerationTask(id=TASK, model="anisora", type="image_to_video", status=TaskStatus.done,
                            created_at=WHEN, updated_at=DONE),
        duration_seconds=31.5, artifact_path=f"artifacts/{TASK}.mp4",
    )
    started = TaskEvent(
        event_id=uuid.UUID(EVENT), occurred_at=STARTED, lane=RouteLane.anisora, worker_id="anisora-0",
        task=GenerationTask(id=TASK, model="anisora", type="image_to_video", status=TaskStatus.processing,
                            created_at=WHEN, updated_at=STARTED),
    )
    beats = {lane: Template(LaneEvent(
        event_id=uuid.UUID(EVENT), occurred_at=WHEN, event_type=LaneEventType.heartbeat, lane_key=lane,
        worker_id=WORKER, availability="ready", warm=True, host=HostPressure(load1=0.4, cpu_cores=16),
    ).to_wire()) for lane in RouteLane}
    return (Template(request.to_wire()), Template(decision.to_wire()), Template(started.to_wire()),
            Template(done.to_wire()), beats)


def uid(kind: int, i: int) -> str:
    return f"00000000-0000-4000-8{kind:03d}-{i:012d}"


class Bulk:
    """librdkafka producer for the synthetic history: batches freely, counts what it sent."""

    def __init__(self, bootstrap: str) -> None:
        self.producer = Producer({
            "bootstrap.servers": bootstrap, "linger.ms": 50, "batch.size": 1_000_000, "acks": "all",
            "enable.idempotence": False, "queue.buffering.max.messages": 200_000,
            "queue.buffering.max.kbytes": 512 * 1024, "message.max.bytes": 1_000_000,
        })
        self.sent: dict[str, int] = {}
        self.failed = 0

    def _delivered(self, err: object, _msg: object) -> None:
        if err is not None:
            self.failed += 1

    def send(self, topic: str, value: str, key: str, ts_ms: int) -> None:
        while True:
            try:
                self.producer.produce(topic, value.encode(), key.encode(), partition=0, timestamp=ts_ms,
                                      on_delivery=self._delivered)
                break
            except BufferError:
                self.producer.poll(0.05)
        self.sent[topic] = self.sent.get(topic, 0) + 1

    def flush(self) -> None:
        left = self.producer.flush(300)
        if left or self.failed:
            raise SystemExit(f"bulk produce: {left} records undelivered, {self.failed} failed")


def task_times(now: datetime, tasks: int, old: int, retention_h: float, hours: float) -> Iterator[datetime]:
    """`old` times spread over the day before the window, then the rest over the last `hours`."""
    old_end = now - timedelta(hours=retention_h + 1)
    for i in range(old):
        yield old_end - timedelta(days=1) + timedelta(days=1) * i / max(old, 1)
    recent = tasks - old
    start = now - timedelta(hours=hours)
    for i in range(recent):
        yield start + (timedelta(hours=hours) - timedelta(minutes=2)) * i / max(recent, 1)


def synthesise(bootstrap: str, topics: Topics, args: argparse.Namespace, now: datetime) -> dict[str, int]:
    req_t, dec_t, started_t, done_t, beat_t = templates(topics, args.prompt_chars)
    bulk = Bulk(bootstrap)
    for i, at in enumerate(task_times(now, args.tasks, args.old, args.retention_h, args.hours)):
        task = f"hist-{i:09d}"
        ts = int(at.timestamp() * 1000)
        values: dict[str, object] = {TASK: task, EVENT: uid(1, i), TOKENS[2]: fmt(at),
                                     TOKENS[3]: fmt(at + timedelta(seconds=40)), str(OFFSET): i}
        bulk.send(topics.tasks_requested, req_t.fill(values), task, ts)
        bulk.send(topics.tasks_accepted, dec_t.fill(values), task, ts + 5)
        values[TOKENS[6]] = fmt(at + timedelta(seconds=2))
        values[EVENT] = uid(4, i)
        bulk.send(topics.events_task, started_t.fill(values), task, ts + 2_000)
        values[EVENT] = uid(2, i)
        bulk.send(topics.events_task, done_t.fill(values), task, ts + 40_000)
    workers = [f"{lane.value}-{k}" for lane in RouteLane for k in range(2)][: args.workers]
    start = now - timedelta(hours=args.hours)
    for s in range(int(args.hours * 3600)):
        at = start + timedelta(seconds=s)
        when, ts = fmt(at), int(at.timestamp() * 1000)
        for w, worker in enumerate(workers):
            lane = RouteLane(worker.rsplit("-", 1)[0])
            beat = beat_t[lane].fill({EVENT: uid(3, s * 16 + w), TOKENS[2]: when, WORKER: worker})
            bulk.send(topics.events_lane, beat, lane.value, ts)
    bulk.flush()
    return bulk.sent


async def commit_group(bootstrap: str, group: str, topic: str, offset: int) -> int | None:
    """Commit `offset` for the admission group: every synthesised request counts as decided."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.commit({tp: offset})
        return await consumer.committed(tp)
    finally:
        await consumer.stop()


async def end_offsets(bootstrap: str, names: list[str]) -> dict[str, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(n, 0) for n in names])
        return {tp.topic: off for tp, off in ends.items()}
    finally:
        await consumer.stop()


def timed_start(agent: Agent, timeout_s: float) -> tuple[float, float, float | None]:
    """(process start -> ready as seen from outside, RSS MB once ready, the agent's own startup gauge)."""
    started = time.monotonic()
    agent.launch("info")  # the agent logs what it loaded and its RSS once ready
    deadline = started + timeout_s
    while agent.metric("framegate_admission_ready") != 1.0:
        if time.monotonic() > deadline:
            raise SystemExit(f"agent not ready after {timeout_s}s; log: {agent.log_path}")
        time.sleep(0.05)
    ready = time.monotonic() - started
    rss = psutil.Process(agent.pid).memory_info().rss / 2**20
    return ready, rss, agent.metric("framegate_admission_startup_seconds")


def gauge(value: float | None) -> str:
    return f"{value:.2f} s" if value is not None else "absent"


def heartbeat_now(worker: str, lane: RouteLane) -> bytes:
    return LaneEvent(event_type=LaneEventType.heartbeat, lane_key=lane, worker_id=worker, availability="ready",
                     warm=True, host=HostPressure(load1=0.4, cpu_cores=16)).to_wire()


async def takeover(bootstrap: str, topics: Topics, active: Agent, rate: float, before_s: float,
                   after_s: float) -> tuple[float, int, int, int]:
    """Light load; kill -9 `active` once it decided some.

    Returns (kill -> first decision after it, requests sent, requests decided, decided more than once).
    """
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=2, acks="all")
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, fetch_max_wait_ms=10, enable_auto_commit=False)
    await producer.start()
    await consumer.start()
    parts = [TopicPartition(topics.tasks_accepted, 0), TopicPartition(topics.tasks_rejected, 0)]
    consumer.assign(parts)
    await consumer.seek_to_end(*parts)
    for p in parts:
        await consumer.position(p)
    for lane in RouteLane:
        for k in range(2):
            await producer.send_and_wait(topics.events_lane, heartbeat_now(f"{lane.value}-{k}", lane), key=b"hb")
    decided: list[int] = []  # record timestamps (ms) of the decisions of this load
    per_task: dict[str, int] = {}
    killed_at: float | None = None
    sent = 0

    async def watch() -> None:
        while True:
            batch = await consumer.getmany(timeout_ms=100)
            for records in batch.values():
                for r in records:
                    task = json.loads(r.value).get("task_id") or ""
                    if task.startswith("live-"):  # the history's tail may be read too
                        decided.append(r.timestamp)
                        per_task[task] = per_task.get(task, 0) + 1

    watcher = asyncio.create_task(watch())
    try:
        started = time.monotonic()
        end = started + before_s + after_s + 60
        while time.monotonic() < end:
            now = time.monotonic()
            if now - started < before_s + after_s:
                req = GenerationRequest(task_id=f"live-{sent}", model=(ModelName.anisora, ModelName.phr00t)[sent % 2],
                                        prompt="bench", input_image="file:///in/a.png", steps=8 if sent % 2 == 0 else 4,
                                        cfg=1.0, width=832, height=480, num_frames=81, fps=16)
                await producer.send(topics.tasks_requested, req.to_wire(), key=req.task_id.encode(), partition=0)
                sent += 1
            if killed_at is None and now - started >= before_s and decided:
                killed_at = active.kill()
            if killed_at is not None and any(ts / 1000 > killed_at for ts in decided) and len(per_task) >= sent \
                    and now - started >= before_s + after_s:
                break
            await asyncio.sleep(1 / rate)  # pacing the load
        await producer.flush()
    finally:
        watcher.cancel()
        await producer.stop()
        await consumer.stop()
    if killed_at is None:
        raise SystemExit("the active agent decided nothing before the kill")
    after = [ts / 1000 for ts in decided if ts / 1000 > killed_at]
    twice = sum(1 for n in per_task.values() if n > 1)
    return (min(after) - killed_at if after else float("nan")), sent, len(per_task), twice


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=500_000)
    parser.add_argument("--old", type=int, default=None, help="tasks older than the window (default 80%%)")
    parser.add_argument("--hours", type=float, default=24.0, help="hours of heartbeats (and recent tasks)")
    parser.add_argument("--workers", type=int, default=6)
    parser.add_argument("--prompt-chars", type=int, default=1000, help="prompt length (a decision embeds it)")
    parser.add_argument("--rate", type=float, default=20.0, help="requests/s during the takeover")
    parser.add_argument("--skip-full-fold", action="store_true",
                        help="skip the SNAPSHOTS=false start (the first snapshot start is a full fold too)")
    args = parser.parse_args()
    args.old = int(args.tasks * 0.8) if args.old is None else args.old
    settings = Settings()
    args.retention_h = float(getattr(settings, "admission_dedup_retention_h", 168.0))

    work = Path(tempfile.mkdtemp(prefix="fg-restart-"))
    broker = LocalBroker(port=free_port(), log_path=work / "tansu.log").start()
    agents: list[Agent] = []
    try:
        topics = Topics(prefix=f"r{uuid.uuid4().hex[:8]}.")
        asyncio.run(create_topics(broker.bootstrap, topics))
        snapshot_topic = getattr(topics, "admission_snapshots", None)
        now = datetime.now(UTC)
        t0 = time.perf_counter()
        sent = synthesise(broker.bootstrap, topics, args, now)
        produced = time.perf_counter() - t0
        total = sum(sent.values())
        group = f"{topics.prefix}admission"
        committed = asyncio.run(commit_group(broker.bootstrap, group, topics.tasks_requested, args.tasks))
        print(f"history: {args.tasks:,} decided tasks ({args.old:,} older than the {args.retention_h:g} h window) "
              f"+ processing/done events, {sent.get(topics.events_lane, 0):,} heartbeats ({args.workers} workers x "
              f"{args.hours:g} h); {total:,} records produced in {produced:.1f} s; group offset {committed}")

        common = {"FRAMEGATE_ADMISSION_REBUILD_TIMEOUT_S": "1800"}

        def agent(name: str, **env: str) -> Agent:
            (work / name).mkdir()
            made = Agent(broker.bootstrap, topics, work / name, extra_env={**common, **env})
            agents.append(made)
            return made

        empty_topics = Topics(prefix=f"e{uuid.uuid4().hex[:8]}.")
        asyncio.run(create_topics(broker.bootstrap, empty_topics))
        (work / "empty").mkdir()
        empty = Agent(broker.bootstrap, empty_topics, work / "empty", extra_env=common)
        agents.append(empty)
        empty_ready, empty_rss, _ = timed_start(empty, 600)
        empty.stop()
        print(f"baseline, empty logs: start -> ready {empty_ready:.2f} s, RSS {empty_rss:.0f} MB")

        full_ready = float("nan")
        if not args.skip_full_fold:
            full = agent("full", FRAMEGATE_ADMISSION_SNAPSHOTS="false")
            full_ready, full_rss, full_gauge = timed_start(full, 1800)
            full.stop()
            print(f"full fold (FRAMEGATE_ADMISSION_SNAPSHOTS=false): start -> ready {full_ready:.2f} s "
                  f"(startup gauge {gauge(full_gauge)}), RSS {full_rss:.0f} MB")

        # Snapshots are written by the active agent (periodically, and on a clean stop within the
        # shutdown grace): wait for the first one before stopping, on a short interval.
        first = agent("first", FRAMEGATE_ADMISSION_SNAPSHOTS="true", FRAMEGATE_ADMISSION_SNAPSHOT_INTERVAL_S="5")
        first_ready, first_rss, _ = timed_start(first, 1800)
        first.wait_role("active", 600)
        waited = time.monotonic()
        while (first.metric("framegate_admission_snapshots_total") or 0) < 1:
            if time.monotonic() - waited > 900:
                raise SystemExit(f"no snapshot written in 900 s; log: {first.log_path}")
            time.sleep(0.5)
        print(f"first snapshot written {time.monotonic() - waited:.1f} s after ready: "
              f"{first.metric('framegate_admission_snapshot_bytes') or 0:,.0f} bytes compressed")
        first.stop()
        snaps = asyncio.run(end_offsets(broker.bootstrap, [snapshot_topic])) if snapshot_topic else {}
        print(f"first start with snapshots on (full fold, then writes a snapshot): ready {first_ready:.2f} s, "
              f"RSS {first_rss:.0f} MB; snapshot topic {snapshot_topic}: {snaps.get(snapshot_topic or '', 0)} records")

        active = agent("active", FRAMEGATE_ADMISSION_SNAPSHOTS="true")
        snap_ready, snap_rss, snap_gauge = timed_start(active, 1800)
        print(f"restart from the snapshot: start -> ready {snap_ready:.2f} s (startup gauge {gauge(snap_gauge)}), "
              f"RSS {snap_rss:.0f} MB   [targets: <= 3 s, <= 300 MB; full fold above: {full_ready:.2f} s]")
        record("admission restart from the snapshot: start -> ready", snap_ready, "s", "<= 3 s")
        record("admission restart from the snapshot: RSS", snap_rss, "MB", "<= 300 MB")

        standby = agent("standby", FRAMEGATE_ADMISSION_SNAPSHOTS="true")
        standby_ready, standby_rss, _ = timed_start(standby, 1800)
        # The group's assignor orders members by their random ids: joining may hand the partition
        # to the newcomer. Whichever holds it is the active one for the takeover.
        wait_until(lambda: {active.role(), standby.role()} == {"active", "standby"}, 120, 0.1,
                   what="one active and one standby admission")
        newcomer = "standby"
        if standby.role() == "active":
            active, standby = standby, active
            newcomer = "active (the partition moved to it on joining)"
        print(f"second admission: ready {standby_ready:.2f} s, RSS {standby_rss:.0f} MB, role {newcomer}")
        took, live, got, twice = asyncio.run(takeover(broker.bootstrap, topics, active, args.rate, 5.0, 15.0))
        standby.wait_role("active", 60)
        print(f"standby takeover: kill -9 -> first decision after it {took:.2f} s   [target <= 10 s]; "
              f"{live} requests at {args.rate:g}/s, {got} decided, {twice} decided more than once")
        record("standby takeover: kill -9 -> first decision", took, "s", "<= 10 s")
        print(f"RSS of the new active after takeover: {psutil.Process(standby.pid).memory_info().rss / 2**20:.0f} MB")
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second TERM must not cut the clean-up short
        for made in agents:
            if made.process is not None and made.process.poll() is None:
                os.kill(made.process.pid, signal.SIGKILL)
                made.process.wait(30)
        broker.stop()
        print(f"logs: {work}")


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    # SIGTERM from a runner: stop the agents and the broker via the finally above.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
