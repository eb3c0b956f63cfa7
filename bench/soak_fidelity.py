"""`framegate simulate`'s fidelity check on a recorded soak run (issue 15, point 4: >= 99 %).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/soak_fidelity.py --minutes 5

1. Records a soak run on the embedded stack: a tansu broker on a free loopback port, the real
   admission agent (`framegate admission`, a child process, stopped by pid) and one real
   `LaneWorker` per lane in this process, each with the sleeping stand-in pipeline (the worker's
   loop, encode, artifact write, heartbeats and task events are real; only the model is not).
2. Drives traffic for `--minutes`: an arrival rate that swings between ~0.2x and ~1.8x its mean,
   both models, some `background` and `critical` work (from a trusted and an untrusted
   producer), `anisora` degraded to the shared lane for the middle of the run and restored, and
   while it is degraded bursts of `background` requests that overflow the shared queue (depth 25 /
   30 s / `queue_overloaded`), each followed by `critical` ones that preempt; plus re-sends of
   task ids sent before and malformed records (bad JSON, a step count the model does not allow).
   The stand-in hosts' heartbeats report a scripted load: quiet, except one spell past the
   `cpu_starvation` threshold long enough to refuse (`--real-host-load`: this machine's own load, which on
   a shared box can withdraw every lane for the whole run).
3. Waits until every request record has its decision, stops everything it started, then reads
   the five logs back (`--from-kafka`'s reader) and replays them through the simulator's
   fidelity check; with `--audit-sink`, `framegate audit-sink` copies the logs into chDB during
   the run and `framegate simulate --json` checks the audit tables too. Prints what was
   recorded, tasks compared, agreement, and every disagreement with its reason. Exit code 1
   when agreement is below `--target`.

Everything binds to 127.0.0.1; every loop is bounded by the run's length or a deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import math
import os
import random
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from aiokafka import AIOKafkaProducer

from bench.recorded_figures import (
    record as record_figure,  # bench/recorded_figures.py: the performance page's figures
)
from gpu_consumers.worker import LaneWorker
from schemas import (
    WITHDRAWAL_POLICY,
    FallbackReason,
    GenerationRequest,
    LaneMode,
    ModelName,
    Priority,
    RouteLane,
    Topics,
)
from schemas.settings import Settings, load_settings
from streams.admission.operator import run_lane_command
from streams.demo.audit_lag import wait_audit_caught_up
from streams.demo.services import Service, run_command
from streams.local_stack.broker import LocalBroker, free_port
from streams.local_stack.topics import create_topics
from streams.simulate.fidelity import Disagreement, Fidelity, check
from streams.simulate.kafka_input import LogRecord, history_from_records, read_logs
from streams.simulate.replay import replay_recorded
from streams.simulate.window import Window
from tests.broker_io import Logged, decided_topics, read_log
from tests.factories import invalid_wire, tiny_request
from tests.integration.admission.harness import REPO, START_S, Agent
from tests.integration.gpu_consumers.stand_in_pipeline import stand_in

#: The producer the agent trusts with `critical` work (see `agent_env`); others are refused.
TRUSTED = "ops"
#: Heartbeat staleness the agent runs with: the live default, so a stalled worker counts.
HEARTBEAT_STALE_S = Settings.model_fields["admission_heartbeat_stale_s"].default


@dataclass(frozen=True)
class Plan:
    minutes: float = 3.0
    seed: int = 7
    #: Stand-in seconds per denoising step (anisora runs 8 steps, phr00t 4).
    step_s: float = 0.05
    #: Mean arrivals per second (both models), swinging +-80 % over `swing_s`.
    rate: float = 2.0
    swing_s: float = 90.0
    tick_s: float = 0.5
    #: `anisora` is degraded to the shared lane over this part of the run.
    degraded_from: float = 0.25
    degraded_until: float = 0.70
    burst_every_s: float = 30.0
    burst_size: int = 40
    #: `critical` requests right behind each burst (they preempt queued `background` work).
    burst_critical: int = 2
    resend_every_s: float = 17.0
    malformed_every_s: float = 23.0
    #: The stand-in hosts report a quiet load, but from this part of the run on one past the
    #: `cpu_starvation` threshold; None: the machine's real load.
    starved_from: float | None = 0.78
    #: The spell outlasts the policy's sustain time by this much, so `cpu_starvation` refusals
    #: come whatever the run's length; it starts earlier when the run is too short to hold it.
    starved_margin_s: float = 20.0
    starved_by: float = 0.95

    @property
    def seconds(self) -> float:
        return self.minutes * 60.0

    def starved_spell(self) -> tuple[float, float] | None:
        """(start, end) seconds into the run of the scripted starved spell."""
        if self.starved_from is None:
            return None
        length = WITHDRAWAL_POLICY.cpu_starvation_seconds + self.starved_margin_s
        start = max(0.0, min(self.starved_from * self.seconds, self.starved_by * self.seconds - length))
        return start, start + length


class HostLoad:
    """The load average the stand-in lane workers' heartbeats report, scripted by the plan."""

    QUIET_PER_CORE = 0.2
    STARVED_PER_CORE = 2.5

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.cores = os.cpu_count() or 1
        self.started: float | None = None

    def start(self) -> None:
        self.started = time.monotonic()

    def __call__(self) -> float:
        spell = self.plan.starved_spell()
        if spell is None:
            return os.getloadavg()[0]
        elapsed = time.monotonic() - self.started if self.started is not None else -1.0
        starved = spell[0] <= elapsed < spell[1]
        return self.cores * (self.STARVED_PER_CORE if starved else self.QUIET_PER_CORE)


@dataclass
class Sent:
    """What the driver put on `tasks.requested`, by kind."""

    records: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    lane_commands: list[str] = field(default_factory=list)


class Driver:
    """Produces the soak traffic onto `tasks.requested` (log time = when it was sent)."""

    def __init__(self, producer: AIOKafkaProducer, topics: Topics, plan: Plan, run_id: str) -> None:
        self.producer = producer
        self.topics = topics
        self.plan = plan
        self.run_id = run_id
        self.rng = random.Random(plan.seed)
        self.sent = Sent()
        self.history: list[tuple[float, GenerationRequest]] = []
        self.serial = 0

    def make(self, model: ModelName, priority: Priority, producer: str | None = None) -> GenerationRequest:
        self.serial += 1
        return tiny_request(model, task_id=f"{self.run_id}-{self.serial:06d}", priority=priority,
                            producer=producer)

    async def send(self, kind: str, value: bytes, key: str | None) -> None:
        await self.producer.send(self.topics.tasks_requested, value, key=key.encode() if key else None)
        self.sent.records += 1
        self.sent.kinds[kind] += 1

    async def request(self, kind: str, request: GenerationRequest, now: float) -> None:
        await self.send(kind, request.to_wire(), request.task_id)
        self.history.append((now, request))

    async def steady(self, elapsed: float, now: float) -> None:
        plan, rng = self.plan, self.rng
        mean = plan.rate * plan.tick_s * (1.0 + 0.8 * math.sin(2 * math.pi * elapsed / plan.swing_s))
        for _ in range(_poisson(rng, mean)):
            model = ModelName.anisora if rng.random() < 0.5 else ModelName.phr00t
            draw = rng.random()
            if draw < 0.04:
                producer = TRUSTED if rng.random() < 0.7 else "nobody"
                await self.request("critical", self.make(model, Priority.critical, producer), now)
            elif draw < 0.25:
                await self.request("background", self.make(model, Priority.background), now)
            else:
                await self.request("standard", self.make(model, Priority.standard), now)

    async def burst(self, now: float) -> None:
        for _ in range(self.plan.burst_size):
            await self.request("burst background", self.make(ModelName.anisora, Priority.background), now)
        for _ in range(self.plan.burst_critical):
            await self.request("burst critical", self.make(ModelName.anisora, Priority.critical, TRUSTED), now)

    async def resend(self, now: float) -> None:
        older = [r for at, r in self.history if now - at >= 5.0]
        if older:
            request = self.rng.choice(older)
            await self.send("re-send", request.to_wire(), request.task_id)

    async def malformed(self, n: int) -> None:
        if n % 2:
            await self.send("malformed json", b'{"task_id": "' + self.run_id.encode() + b'-bad", "mod', None)
        else:
            bad = self.make(ModelName.phr00t, Priority.standard)
            await self.send("invalid request", invalid_wire(bad), bad.task_id)


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method: the means here are a few per tick."""
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit or k >= 1000:
            return k
        k += 1


async def drive(settings: Settings, plan: Plan, run_id: str, load: HostLoad) -> Sent:
    """The traffic of the whole run, tick by tick (bounded by the plan's length)."""
    producer = AIOKafkaProducer(**settings.broker.producer_kwargs(settings.kafka_bootstrap))
    await producer.start()
    driver = Driver(producer, settings.topics, plan, run_id)
    loop = asyncio.get_running_loop()
    start = loop.time()
    load.start()
    degraded = restored = False
    next_burst = next_resend = next_malformed = 0.0
    malformed = 0
    try:
        for tick in range(int(plan.seconds / plan.tick_s)):
            target = start + tick * plan.tick_s
            await asyncio.sleep(max(0.0, target - loop.time()))
            elapsed = loop.time() - start
            now = time.time()
            if not degraded and elapsed >= plan.degraded_from * plan.seconds:
                degraded = True
                result = await run_lane_command(settings, "anisora", LaneMode.degraded_shared,
                                                FallbackReason.capacity)
                driver.sent.lane_commands.append(f"{elapsed:.0f}s: {result.message}")
                next_burst = elapsed + 5.0
            if degraded and not restored and elapsed >= plan.degraded_until * plan.seconds:
                restored = True
                result = await run_lane_command(settings, "anisora", LaneMode.dedicated, None)
                driver.sent.lane_commands.append(f"{elapsed:.0f}s: {result.message}")
            await driver.steady(elapsed, now)
            if degraded and not restored and elapsed >= next_burst:
                await driver.burst(now)
                next_burst = elapsed + plan.burst_every_s
            if elapsed >= next_resend:
                await driver.resend(now)
                next_resend = elapsed + plan.resend_every_s
            if elapsed >= next_malformed:
                await driver.malformed(malformed)
                malformed += 1
                next_malformed = elapsed + plan.malformed_every_s
            await producer.flush()
    finally:
        await producer.stop()
    return driver.sent


def worker_settings(settings: Settings, lane: RouteLane, artifacts: Path) -> Settings:
    return load_settings(
        kafka_bootstrap=settings.kafka_bootstrap, topic_prefix=settings.topic_prefix,
        artifact_dir=artifacts, lane_device="cpu", lane_worker_id=f"soak-{lane.value}",
        lane_heartbeat_interval_s=1.0, lane_memory_reserve_gib=0.0,
        # both models fit the shared lane at once: no model swaps in the soak
        lane_need_gib_anisora=1.0, lane_need_gib_phr00t=1.0, lane_model_budget_gib=2.5,
    )


async def record_traffic(settings: Settings, plan: Plan, run_id: str, artifacts: Path) -> Sent:
    """One stand-in worker per lane runs while the traffic is driven and decided."""
    load = HostLoad(plan)
    workers = [LaneWorker(lane, worker_settings(settings, lane, artifacts), loader=stand_in(plan.step_s),
                          host_load=load) for lane in RouteLane]
    stop = asyncio.Event()
    running = [asyncio.create_task(w.run(stop)) for w in workers]
    try:
        deadline = time.monotonic() + START_S
        while not all(w.status.view().warm for w in workers):
            if any(t.done() for t in running) or time.monotonic() > deadline:
                raise RuntimeError("the stand-in lane workers did not get warm")
            await asyncio.sleep(0.1)
        sent = await drive(settings, plan, run_id, load)
        await read_log(settings.kafka_bootstrap, decided_topics(settings.topics),
                       all_decided(settings.topics.tasks_requested, sent.records), timeout_s=180.0)
    finally:
        stop.set()
        await asyncio.gather(*running, return_exceptions=True)
    return sent


def all_decided(requested: str, records: int) -> Callable[[list[Logged]], bool]:
    """`read_log`'s condition: every one of the first `records` request offsets has a decision."""

    def enough(found: list[Logged]) -> bool:
        offsets = {r.value["source"]["offset"] for r in found
                   if isinstance(r.value, dict) and (r.value.get("source") or {}).get("topic") == requested}
        return len(offsets) >= records

    return enough


def simulation_settings(bootstrap: str, topics: Topics) -> Settings:
    """What the recorded agent ran with (see `Agent` and `record`), for the replay."""
    return Settings(kafka_bootstrap=bootstrap, topic_prefix=topics.prefix,
                    admission_heartbeat_stale_s=HEARTBEAT_STALE_S, admission_critical_producers=[TRUSTED])


def record(bootstrap: str, topics: Topics, data_dir: Path, plan: Plan, sink: AuditSink | None = None) -> Sent:
    """A soak run recorded on the broker at `bootstrap` under `topics` (and copied into ClickHouse
    by `sink`, when given); every process it starts is stopped by pid before it returns."""
    agent = Agent(bootstrap, topics, data_dir,
                  extra_env={"FRAMEGATE_ADMISSION_HEARTBEAT_STALE_S": str(HEARTBEAT_STALE_S)})
    settings = simulation_settings(bootstrap, topics)
    with contextlib.ExitStack() as stack:
        if sink is not None:
            stack.callback(sink.service.stop)
            sink.service.start()
        stack.callback(agent.stop)
        agent.start(timeout_s=START_S, loglevel="info")
        sent = asyncio.run(record_traffic(settings, plan, f"soak{uuid.uuid4().hex[:6]}", data_dir / "artifacts"))
        agent.stop()
        if sink is not None:
            asyncio.run(wait_audit_caught_up(bootstrap, sink.settings, timeout_s=180.0))
    return sent


@dataclass
class AuditSink:
    """`framegate audit-sink` (a child process) copying the soak's logs into chDB under `data_dir`."""

    service: Service
    settings: Settings
    env: dict[str, str]

    @classmethod
    def under(cls, bootstrap: str, topics: Topics, data_dir: Path) -> AuditSink:
        group = f"{topics.prefix}audit"
        env = {
            "FRAMEGATE_KAFKA_BOOTSTRAP": bootstrap,
            "FRAMEGATE_TOPIC_PREFIX": topics.prefix,
            "FRAMEGATE_DATA_DIR": str(data_dir),
            "FRAMEGATE_CLICKHOUSE_DSN": f"chdb://{data_dir / 'clickhouse'}",
            "FRAMEGATE_AUDIT_GROUP_ID": group,
            "FRAMEGATE_AUDIT_METRICS_PORT": "0",
            "FRAMEGATE_ADMISSION_HEARTBEAT_STALE_S": str(HEARTBEAT_STALE_S),
            "HF_HUB_OFFLINE": "1",
            "PYTHONPATH": str(REPO),
        }
        settings = Settings(kafka_bootstrap=bootstrap, topic_prefix=topics.prefix, audit_group_id=group)
        return cls(Service("audit-sink", ["audit-sink"], env, data_dir / "audit-sink.log"), settings, env)


@dataclass(frozen=True)
class Measured:
    origin: str
    fidelity: Fidelity
    #: Recorded decisions answering a request, by outcome and code.
    outcomes: Counter[str]
    preemptions: int
    #: Agreeing decisions whose queue depth, lane or reason still differ (a state that drifted
    #: without changing an outcome yet); None where not compared (the chDB check's JSON).
    drifted: int | None = None


def from_kafka(bootstrap: str, topics: Topics, save: Path | None = None) -> Measured:
    """The simulator's fidelity check on the recorded Kafka logs (`--from-kafka`'s reader);
    `save`: also write the records read to this JSON-lines file (see `--replay`)."""
    settings = simulation_settings(bootstrap, topics)
    t = settings.topics
    names = [t.tasks_requested, t.tasks_accepted, t.tasks_rejected, t.events_task, t.events_lane]
    records = asyncio.run(read_logs(settings, names, settings.admission_rebuild_timeout_s))
    if save is not None:
        with save.open("w") as out:
            for r in records:
                value = base64.b64encode(r.value).decode() if r.value is not None else None
                out.write(json.dumps({"topic": r.topic, "partition": r.partition, "offset": r.offset,
                                      "ts": r.ts, "value": value}) + "\n")
    return measured_records(records, settings, "kafka logs")


def from_saved(path: Path) -> Measured:
    """The fidelity check again on logs a run saved (`--keep`): no stack needed."""
    records = []
    for line in path.read_text().splitlines():
        r = json.loads(line)
        value = base64.b64decode(r["value"]) if r["value"] is not None else None
        records.append(LogRecord(r["topic"], r["partition"], r["offset"], r["ts"], value))
    prefix = records[0].topic.split(".")[0] + "."
    settings = simulation_settings("127.0.0.1:9", Topics(prefix=prefix))
    return measured_records(records, settings, f"saved logs {path}")


def measured_records(records: list[LogRecord], settings: Settings, origin: str) -> Measured:
    history = history_from_records(records, settings, Window())
    outcomes = Counter(f"{d.outcome} {d.code or ''}".strip() + (" (replayed)" if d.replayed else "")
                       for d in history.decisions.values())
    simulated = replay_recorded(history, settings)
    result = check(history, simulated)
    drifted = sum(1 for key, rec in history.decisions.items()
                  if (sim := simulated.primary.get(key)) is not None
                  and (rec.outcome, rec.code) == (sim.outcome, sim.code)
                  and (rec.queue_depth, rec.lane, rec.reason) != (sim.queue_depth, sim.lane, sim.reason))
    return Measured(origin, result, outcomes, len(history.preemptions), drifted)


def from_clickhouse(sink: AuditSink) -> Measured:
    """`framegate simulate --json` on the audit tables, as its own process (chDB opens one data
    directory per process; the sink that wrote it has stopped)."""
    out = json.loads(run_command(["simulate", "--json"], sink.env, timeout_s=300.0))
    f = out["fidelity"]
    result = Fidelity(compared=f["compared"], agreed=f["agreed"], carried=f["carried_over"],
                      by_position=f["decided_on_recorded_positions"], requests=out["window"]["requests"],
                      disagreements=[Disagreement(**d) for d in f["disagreements"]])
    recorded = out["recorded"]
    outcomes = Counter({"accepted": recorded["accepted"],
                        **{f"rejected {code}": n for code, n in recorded["refused"].items()}})
    return Measured("chDB audit tables", result, outcomes, 0)


def report(sent: Sent, minutes: float, measured: list[Measured]) -> None:
    if sent.records:
        print(f"recorded: {sent.records} records on tasks.requested in {minutes:g} min of traffic")
        print("  sent: " + ", ".join(f"{kind} {n}" for kind, n in sorted(sent.kinds.items())))
        print("  lane commands: " + "; ".join(sent.lane_commands))
    for m in measured:
        result = m.fidelity
        print(f"from the {m.origin}:")
        print("  recorded: " + ", ".join(f"{k} {n}" for k, n in sorted(m.outcomes.items()))
              + (f"; preemptions {m.preemptions}" if m.preemptions else ""))
        print(f"  tasks compared: {result.compared}  agreed: {result.agreed}  "
              f"agreement: {100 * result.agreement:.2f} %  (target >= 99 %)")
        record_figure(f"soak fidelity from the {m.origin}", 100 * result.agreement, "%", ">= 99 %")
        print("  " + result.line())
        if m.drifted is not None:
            print(f"  agreeing decisions with another queue depth, lane or reason: {m.drifted}")
        print(f"  disagreements: {len(result.disagreements)}")
        for d in result.disagreements:
            print(f"    {d.key} task {d.task_id}: recorded {d.recorded}, simulated {d.simulated}: {d.reason}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=Plan.minutes, help="minutes of traffic")
    parser.add_argument("--rate", type=float, default=Plan.rate, help="mean requests per second")
    parser.add_argument("--step-s", type=float, default=Plan.step_s, help="stand-in seconds per step")
    parser.add_argument("--seed", type=int, default=Plan.seed)
    parser.add_argument("--real-host-load", action="store_true",
                        help="heartbeats report this machine's load (default: scripted, one starved spell)")
    parser.add_argument("--audit-sink", action="store_true",
                        help="also run the audit sink (chDB) and check from the audit tables")
    parser.add_argument("--target", type=float, default=0.99, help="agreement below this: exit 1")
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep the run here: service logs and the five Kafka logs (kafka-logs.jsonl)")
    parser.add_argument("--replay", type=Path, default=None,
                        help="no run: the fidelity check on a kept kafka-logs.jsonl")
    args = parser.parse_args()
    if args.replay is not None:
        again = from_saved(args.replay)
        report(Sent(), 0.0, [again])
        return 0 if again.fidelity.agreement >= args.target else 1
    plan = Plan(minutes=args.minutes, rate=args.rate, step_s=args.step_s, seed=args.seed,
                starved_from=None if args.real_host_load else Plan.starved_from)
    with contextlib.ExitStack() as stack:
        if args.keep is None:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="soak-")))
        else:
            tmp = args.keep
            tmp.mkdir(parents=True, exist_ok=True)
        with LocalBroker(port=free_port(), log_path=tmp / "tansu.log") as broker:
            topics = Topics(prefix=f"soak{uuid.uuid4().hex[:6]}.")
            asyncio.run(create_topics(broker.bootstrap, topics))
            sink = AuditSink.under(broker.bootstrap, topics, tmp) if args.audit_sink else None
            sent = record(broker.bootstrap, topics, tmp, plan, sink)
            saved = tmp / "kafka-logs.jsonl" if args.keep is not None else None
            measured = [from_kafka(broker.bootstrap, topics, saved)]
        if sink is not None:
            measured.append(from_clickhouse(sink))
    report(sent, plan.minutes, measured)
    return 0 if all(m.fidelity.agreement >= args.target for m in measured) else 1


if __name__ == "__main__":
    sys.exit(main())
