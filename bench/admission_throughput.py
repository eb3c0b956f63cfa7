"""Admission throughput and latency on the local tansu broker (a benchmark, not a test).

Prints, in one run:
1. the floor: a bare aiokafka consume -> produce pass-through of the same request bytes;
1b. the floors (`bench/_faust_floor.py`), processes that only count the same records: through a
   Faust agent on Faust's public API (`take_events` batches, admission's Faust options), and
   through admission's request intake (a plain aiokafka consumer group, batches committed as
   admission commits them): what either path could take from one partition;
2. admission at saturation (requests published up front, agent started after): sustained
   decisions/s, and their ratio to the Faust agent floor of the same run (target >= 0.8): the
   floor and admission alternate `--repeats` times, each on a fresh broker, and the medians are
   compared;
3. the agent at a paced 1,000 requests/s: p50/p99 request -> decision latency (producer send to
   the decision arriving at a consumer of tasks.accepted, so both fetch hops and the producer's
   linger are included), timed after one warm-up request was decided (the agent's first group
   join is start-up; target p99 <= 60 ms at linger 5 ms, librdkafka's default). Once per
   producer linger of `--linger-ms` (default 5, then 1), with the
   broker's CPU beside it: tansu's memory store keeps one object per produced batch and its cost
   per request grows with their number, so a producer sending every request as a batch of its
   own (linger 1 ms at this rate) loads the broker, which shares this machine's cores with the
   agent, more and more as the run goes on.

Usage: .venv/bin/python bench/admission_throughput.py [--requests 20000] [--repeats 3] [--rate 1000] [--seconds 10]
       [--linger-ms 5 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.recorded_figures import (
    record,  # bench/recorded_figures.py: the performance page's figures
)
from schemas import GenerationRequest, ModelName, RouteLane, Topics
from streams.local_stack.broker import LocalBroker, free_port
from streams.local_stack.topics import create_topics
from tests.broker_io import publish
from tests.factories import heartbeat
from tests.integration.admission.harness import Agent


def make_request(i: int) -> bytes:
    model = ModelName.anisora if i % 2 else ModelName.phr00t
    return GenerationRequest(
        task_id=f"b-{i}-{uuid.uuid4().hex[:6]}", model=model, prompt="bench", input_image="a.png",
        steps=8 if model is ModelName.anisora else 4, cfg=1.0, width=832, height=480, num_frames=81, fps=16,
    ).to_wire()


async def fresh(bootstrap: str) -> Topics:
    topics = Topics(prefix=f"b{uuid.uuid4().hex[:8]}.")
    await create_topics(bootstrap, topics)
    await publish(bootstrap, [(topics.events_lane, lane.value.encode(), heartbeat(lane).to_wire()) for lane in RouteLane],
                  partition=0)
    return topics


async def passthrough(bootstrap: str, n: int) -> float:
    topics = await fresh(bootstrap)
    src, dst = topics.tasks_requested, topics.tasks_accepted
    await publish(bootstrap, [(src, None, make_request(i)) for i in range(n)])
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, fetch_max_wait_ms=10, enable_auto_commit=False)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=2, acks="all")
    await consumer.start()
    await producer.start()
    parts = [TopicPartition(src, p) for p in range(topics.partitions()[src])]
    consumer.assign(parts)
    await consumer.seek_to_beginning(*parts)
    done, started = 0, time.perf_counter()
    while done < n:
        batch = await consumer.getmany(timeout_ms=200, max_records=2000)
        for records in batch.values():
            for r in records:
                await producer.send(dst, r.value, key=r.key)
                done += 1
    await producer.flush()
    elapsed = time.perf_counter() - started
    await consumer.stop()
    await producer.stop()
    return n / elapsed


def faust_floor(bootstrap: str, n: int, path: str) -> tuple[float, float]:
    """Records/s and CPU microseconds per record of a Faust app that does nothing with them."""
    topics = asyncio.run(fresh(bootstrap))
    asyncio.run(publish(bootstrap, [(topics.tasks_requested, None, make_request(i)) for i in range(n)]))
    script = Path(__file__).with_name("_faust_floor.py")
    done = subprocess.run([sys.executable, str(script), bootstrap, topics.tasks_requested, str(n), path],
                          capture_output=True, text=True, timeout=300, check=True)
    seen, wall, cpu = done.stdout.split()[-3:]
    return int(seen) / float(wall), float(cpu) / int(seen) * 1e6


async def arrivals(bootstrap: str, topics: Topics, n: int, timeout_s: float) -> dict[str, float]:
    consumer = AIOKafkaConsumer(topics.tasks_accepted, topics.tasks_rejected, bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", fetch_max_wait_ms=10)
    await consumer.start()
    seen: dict[str, float] = {}
    deadline = time.monotonic() + timeout_s
    try:
        while len(seen) < n and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200, max_records=5000)
            now = time.perf_counter()
            for records in batch.values():
                for r in records:
                    seen[json.loads(r.value)["task_id"]] = now
    finally:
        await consumer.stop()
    return seen


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), to report cost per decision."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def saturation(bootstrap: str, n: int, tmp: Path) -> tuple[float, float]:
    """Steady decisions/s, and the agent's CPU microseconds per decision (load-independent)."""
    topics = asyncio.run(fresh(bootstrap))
    payloads = [make_request(i) for i in range(n)]
    asyncio.run(publish(bootstrap, [(topics.tasks_requested, None, p) for p in payloads]))
    agent = Agent(bootstrap, topics, tmp / "sat").start()
    try:
        assert agent.process is not None
        cpu_before = cpu_seconds(agent.process.pid)
        seen = asyncio.run(arrivals(bootstrap, topics, n, 300))
        cpu_used = cpu_seconds(agent.process.pid) - cpu_before
    finally:
        agent.stop()
    times = sorted(seen.values())
    # The first tenth is start-up (group join, first fetches): measure the steady part.
    head = len(times) // 10
    return (len(times) - head) / (times[-1] - times[head]), cpu_used / max(1, len(seen)) * 1e6


async def warm_up(bootstrap: str, topics: Topics) -> None:
    """One request decided end to end: the agent's group join (~3 s on tansu) is not timed."""
    await publish(bootstrap, [(topics.tasks_requested, None, make_request(-1))])
    await arrivals(bootstrap, topics, 1, 60)


async def paced(bootstrap: str, topics: Topics, rate: int, seconds: float, linger_ms: int) -> list[float]:
    n = int(rate * seconds)
    await warm_up(bootstrap, topics)
    payloads = [make_request(i) for i in range(n)]
    ids = [json.loads(p)["task_id"] for p in payloads]
    sent: dict[str, float] = {}
    receiver = asyncio.create_task(arrivals(bootstrap, topics, n + 1, seconds + 60))
    await asyncio.sleep(1.0)  # let the receiving consumer start before timing starts
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=linger_ms)
    await producer.start()
    start = time.perf_counter()
    for i, (task_id, payload) in enumerate(zip(ids, payloads, strict=True)):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        sent[task_id] = time.perf_counter()
        await producer.send(topics.tasks_requested, payload, key=task_id.encode())
    await producer.stop()
    seen = await receiver
    return sorted((seen[t] - sent[t]) * 1000 for t in ids if t in seen)


def pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rate", type=int, default=1_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3,
                        help="rounds of the Faust floor and admission at saturation, medians reported")
    parser.add_argument("--linger-ms", type=int, nargs="+", default=[5, 1],
                        help="the paced producer's linger; one paced run per value")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        with LocalBroker(port=free_port()) as broker:
            floor = asyncio.run(passthrough(broker.bootstrap, args.requests))
            print(f"pass-through (aiokafka consume->produce): {floor:,.0f} records/s")
            intake_rate, intake_us = faust_floor(broker.bootstrap, args.requests, "intake")
            print(f"admission's intake floor (RequestIntake, only counts): {intake_rate:,.0f} records/s, "
                  f"{intake_us:.0f} us CPU per record")
        # The Faust floor and admission alternate, each on a broker of its own: tansu's memory
        # store slows with every batch it holds, so a later run on a shared broker would be
        # slower for that alone, and one run of each swings with whatever else the machine does.
        floors: list[float] = []
        rates: list[float] = []
        for n in range(args.repeats):
            with LocalBroker(port=free_port()) as broker:
                agent_rate, agent_us = faust_floor(broker.bootstrap, args.requests, "agent")
            with LocalBroker(port=free_port()) as broker:
                (tmp_path / f"sat-{n}" / "sat").mkdir(parents=True)
                rate, cpu_us = saturation(broker.bootstrap, args.requests, tmp_path / f"sat-{n}")
            floors.append(agent_rate)
            rates.append(rate)
            print(f"round {n + 1}: Faust agent floor (an agent that only counts, take_events batches) "
                  f"{agent_rate:,.0f} records/s, {agent_us:.0f} us CPU per record; admission at saturation "
                  f"{rate:,.0f} decisions/s, agent CPU {cpu_us:.0f} us/decision "
                  f"(= {1e6 / cpu_us:,.0f}/s on a core of its own): {rate / agent_rate:.2f} x")
        agent_rate, rate = statistics.median(floors), statistics.median(rates)
        print(f"admission at saturation (median of {args.repeats}): {rate:,.0f} decisions/s = "
              f"{rate / agent_rate:.2f} x the Faust agent floor's median {agent_rate:,.0f}/s (target >= 0.8), "
              f"{rate / intake_rate:.0%} of the intake floor, {rate / floor:.0%} of pass-through")
        record("admission at saturation", rate, "decisions/s")
        record("admission at saturation / the Faust agent floor (same run)", rate / agent_rate, "x", ">= 0.8")
        with LocalBroker(port=free_port()) as broker:
            paced_runs(broker, args, tmp_path)


def paced_runs(broker: LocalBroker, args: argparse.Namespace, tmp_path: Path) -> None:
    """Part 3: the agent at a paced rate, once per producer linger."""
    for linger_ms in args.linger_ms:
        topics = asyncio.run(fresh(broker.bootstrap))
        (tmp_path / f"paced-{linger_ms}").mkdir(exist_ok=True)
        agent = Agent(broker.bootstrap, topics, tmp_path / f"paced-{linger_ms}").start()
        assert broker.process is not None
        broker_cpu = cpu_seconds(broker.process.pid)
        started = time.perf_counter()
        try:
            lat = asyncio.run(paced(broker.bootstrap, topics, args.rate, args.seconds, linger_ms))
        finally:
            agent.stop()
        broker_cores = (cpu_seconds(broker.process.pid) - broker_cpu) / (time.perf_counter() - started)
        expected = int(args.rate * args.seconds)
        print(f"admission at {args.rate:,} req/s for {args.seconds:g}s, producer linger {linger_ms} ms: "
              f"{len(lat)}/{expected} decided, p50 {statistics.median(lat):.1f} ms, "
              f"p99 {pct(lat, 0.99):.1f} ms, max {lat[-1]:.1f} ms (target p99 <= 60 ms at linger 5 ms); "
              f"broker CPU {broker_cores:.2f} cores on average")
        record(f"p99 request -> decision at {args.rate:,} req/s, linger {linger_ms} ms", pct(lat, 0.99), "ms",
               "<= 60 ms at linger 5 ms")


if __name__ == "__main__":
    main()
