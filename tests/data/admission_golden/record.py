"""Records what admission writes for a scripted log, or checks it against a recording.

The script is a deterministic log of `events.lane`, `events.task` and `tasks.requested`
records (every rule and path: heartbeats under pressure, stale and missing signals, degrade and
restore, bursts past the queue policy, expiries, preemptions, re-sends, malformed and invalid
bytes, unreadable input images, unauthorised `critical`, worker redeliveries). `replay` folds
and decides it through the agent's decision path (`decide_record`, `apply`, the wire folds) and
returns every record admission would publish, as (topic, key, value) in publishing order
(`published`: one decision's records, in the agent's order; `recorded.py` renders its live
recordings through it too).

`golden.jsonl.gz` was recorded with the admission core as it stood before the plain-data core
(commit 878855b): `PYTHONPATH=<that checkout> python tests/data/admission_golden/record.py`.
tests/unit/admission/test_golden_records.py replays it through the current code, and with it the
soak run and the demo that agent recorded live (`recorded.py`).
"""

from __future__ import annotations

import gzip
import json
import random
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from schemas import (
    Availability,
    DecisionOutcome,
    FallbackReason,
    GenerationRequest,
    GenerationTask,
    HostPressure,
    LaneEvent,
    LaneEventType,
    LaneMode,
    ModelName,
    Priority,
    RouteLane,
    SourceRecord,
    TaskErrorCode,
    TaskEvent,
    TaskStatus,
    Topics,
)
from streams.admission.decide import Decision, apply
from streams.admission.record import decide_record
from streams.admission.state import (
    AdmissionConfig,
    AdmissionState,
    fold_lane_event,
    fold_task_event,
)
from tests.factories import STEPS

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden.jsonl.gz"
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
TOPICS = Topics(prefix="t.")
REQUESTED, LANE, TASK = TOPICS.tasks_requested, TOPICS.events_lane, TOPICS.events_task
CONFIG = AdmissionConfig(critical_producers=frozenset({"ops"}), events_task_topic=TASK, events_lane_topic=LANE)


def _event_id(rng: random.Random) -> str:
    a, b, c, d, e = (rng.getrandbits(n) for n in (32, 16, 12, 12, 48))
    return f"{a:08x}-{b:04x}-4{c:03x}-8{d:03x}-{e:012x}"


def script(seed: int = 7, requests: int = 700) -> Iterator[tuple[str, int, bytes]]:
    """(topic, timestamp ms, value) in log order."""
    rng = random.Random(seed)
    clock = 0.0
    accepted: list[tuple[str, RouteLane]] = []
    workers = {lane: [f"{lane.value}-w{i}" for i in range(2)] for lane in RouteLane}

    def when() -> datetime:
        return T0 + timedelta(milliseconds=round(clock * 1000))

    def heartbeat(lane: RouteLane, worker: str, **host: Any) -> bytes:
        pressure = HostPressure(load1=host.pop("load1", 0.5), cpu_cores=8, **host)
        return LaneEvent(event_id=_event_id(rng), occurred_at=when(), event_type=LaneEventType.heartbeat,
                         lane_key=lane, worker_id=worker, availability=rng.choice(
                             [Availability.ready] * 8 + [Availability.cold, Availability.unavailable]),
                         warm=rng.random() < 0.9, host=pressure).to_wire()

    def made(task_id: str, model: ModelName, priority: Priority, producer: str | None) -> bytes:
        return GenerationRequest(task_id=task_id, model=model, prompt="a lighthouse", steps=STEPS[model], cfg=1.0,
                                 input_image="file:///i.png", width=1280, height=720, num_frames=81, fps=30,
                                 priority=priority, producer=producer, submitted_at=when()).to_wire()

    # Before any heartbeat: no signal at all.
    yield REQUESTED, 0, made("first", ModelName.phr00t, Priority.standard, None)
    for n in range(requests):
        clock += rng.choice([0.05, 0.2, 0.5, 1.0, 2.0, 7.0]) if rng.random() < 0.97 else 31.0
        ms = round(clock * 1000)
        if n % 150 == 40:
            # A burst on the degraded anisora lane: the queue fills, the rest is refused, and
            # authorised critical work pushes the newest background items out.
            yield LANE, ms, LaneEvent(event_id=_event_id(rng), occurred_at=when(), event_type=LaneEventType.lane_state,
                                      lane_key=RouteLane.anisora, mode=LaneMode.degraded_shared,
                                      fallback_reason=FallbackReason.capacity).to_wire()
            for worker in workers[RouteLane.shared]:
                yield LANE, ms, LaneEvent(event_id=_event_id(rng), occurred_at=when(),
                                          event_type=LaneEventType.heartbeat, lane_key=RouteLane.shared,
                                          worker_id=worker, availability=Availability.ready, warm=True,
                                          host=HostPressure(load1=0.5, cpu_cores=8)).to_wire()
            mix = [Priority.background] * 32 + [Priority.standard] * 3 + [Priority.critical] * 3
            for i, priority in enumerate(mix):
                clock += 0.02
                yield REQUESTED, round(clock * 1000), made(f"b{n}-{i}", ModelName.anisora, priority, "ops")
            continue
        if n % 150 == 100:
            # phr00t's workers over the CPU threshold for longer than the contract allows.
            for _ in range(9):
                clock += 5.0
                for worker in workers[RouteLane.phr00t]:
                    yield LANE, round(clock * 1000), LaneEvent(
                        event_id=_event_id(rng), occurred_at=when(), event_type=LaneEventType.heartbeat,
                        lane_key=RouteLane.phr00t, worker_id=worker, availability=Availability.ready, warm=True,
                        host=HostPressure(load1=20.0, cpu_cores=8)).to_wire()
                yield REQUESTED, round(clock * 1000), made(f"c{n}-{_}", ModelName.phr00t, Priority.standard, None)
            continue
        for lane in RouteLane:
            if rng.random() < 0.3:
                for worker in workers[lane]:
                    roll = rng.random()
                    host: dict[str, Any] = {}
                    if roll < 0.05:
                        host["load1"] = 20.0
                    elif roll < 0.08:
                        host["artifact_write_ms"] = 2500.0
                    elif roll < 0.2:
                        host.update(gpu_sessions_in_use=1, gpu_session_quota=1,
                                    shared_fallback_enabled=rng.random() < 0.5)
                    yield LANE, ms, heartbeat(lane, worker, **host)
        if rng.random() < 0.04:
            model_lane = rng.choice([RouteLane.anisora, RouteLane.phr00t])
            degrade = rng.random() < 0.6
            event = LaneEvent(event_id=_event_id(rng), occurred_at=when(), event_type=LaneEventType.lane_state,
                              lane_key=model_lane, mode=LaneMode.degraded_shared if degrade else LaneMode.dedicated,
                              fallback_reason=rng.choice(list(FallbackReason)) if degrade else None)
            yield LANE, ms, event.to_wire()
        if accepted and rng.random() < 0.5:
            task_id, lane = accepted.pop(rng.randrange(len(accepted)))
            for status in rng.choice([[TaskStatus.processing], [TaskStatus.processing, TaskStatus.done],
                                      [TaskStatus.processing, TaskStatus.pending],
                                      [TaskStatus.failed], [TaskStatus.done]]):
                task = GenerationTask(id=task_id, model=rng.choice(["anisora", "phr00t"]), type="image_to_video",
                                      status=status, created_at=when(), updated_at=when(),
                                      error_msg="worker failed" if status is TaskStatus.failed else None)
                done = status is TaskStatus.done
                yield TASK, ms, TaskEvent(event_id=_event_id(rng), occurred_at=when(), task=task, lane=lane,
                                          duration_seconds=rng.choice([0.4, 1.2, 3.0]) if done else None,
                                          artifact_path="/a.mp4" if done else None,
                                          error_code=TaskErrorCode.pipeline_error
                                          if status is TaskStatus.failed else None).to_wire()
        model = rng.choice(list(ModelName))
        priority = rng.choice([Priority.standard, Priority.background, Priority.background, Priority.critical])
        task_id = f"g{n}" if rng.random() > 0.06 or n == 0 else f"g{rng.randrange(n)}"
        body: dict[str, Any] = {
            "task_id": task_id, "model": model, "prompt": "a lighthouse", "steps": STEPS[model], "cfg": 1.0,
            "input_image": rng.choice(["file:///i.png"] * 8 + ["s3://b/i.png", "/plain/i.png"]),
            "width": rng.choice([832, 1280]), "height": rng.choice([480, 720]),
            "num_frames": rng.choice([49, 81]), "fps": rng.choice([16, 30]), "priority": priority,
            "producer": rng.choice(["ops", "web", None]), "submitted_at": when() - timedelta(seconds=1),
            "encoding_profile": rng.choice(["h264_high", "h264_main"]),
        }
        roll = rng.random()
        if roll < 0.03:
            yield REQUESTED, ms, b"{not json"
            continue
        if roll < 0.06:
            body["steps"] = 5
            yield REQUESTED, ms, GenerationRequest.model_construct(**body).model_dump_json().encode()
            continue
        request = GenerationRequest(**body)
        yield REQUESTED, ms, request.to_wire()
        accepted.append((task_id, RouteLane(model.value)))
        if rng.random() < 0.3:
            accepted.append((task_id, RouteLane.shared))


#: One record admission publishes: topic, key, value (as text).
Published = tuple[str, str | None, str]


def published(outcome: Decision, topics: Topics) -> list[Published]:
    """The records one decision publishes, in the agent's order (`AdmissionService.outputs_of`)."""
    out: list[Published] = []
    for decision in outcome.decisions:
        wire = decision.to_wire().decode()
        if decision.outcome is DecisionOutcome.accepted:
            assert decision.lane is not None
            if not decision.replayed:
                out.append((topics.lane(decision.lane), decision.task_id, wire))
            out.append((topics.tasks_accepted, decision.task_id, wire))
        else:
            out.append((topics.tasks_rejected, decision.task_id, wire))
    for event in outcome.task_events:
        out.append((topics.events_task, event.task_id, event.to_wire().decode()))
    for memory in outcome.memory_events:
        out.append((topics.events_memory, memory.lane.value if memory.lane else None, memory.to_wire().decode()))
    return out


def replay(records: list[tuple[str, int, bytes]]) -> list[Published]:
    state = AdmissionState(config=CONFIG)
    offsets = {REQUESTED: 0, LANE: 0, TASK: 0}
    out: list[Published] = []
    for topic, ms, value in records:
        offset = offsets[topic]
        offsets[topic] += 1
        if topic == LANE:
            assert state.claim_position(LANE, offset)
            fold_lane_event(state, LaneEvent.model_validate_json(value))
            continue
        if topic == TASK:
            assert state.claim_position(TASK, offset)
            fold_task_event(state, TaskEvent.model_validate_json(value))
            continue
        now = datetime.fromtimestamp((T0.timestamp() * 1000 + ms) / 1000, UTC)
        outcome = decide_record(state, value, SourceRecord(topic=REQUESTED, partition=0, offset=offset), now)
        apply(state, outcome)
        out += published(outcome, TOPICS)
    return out


def load() -> tuple[list[tuple[str, int, bytes]], list[tuple[str, str | None, str]]]:
    records, outputs = [], []
    with gzip.open(GOLDEN, "rt") as lines:
        for line in lines:
            row = json.loads(line)
            if row["kind"] == "in":
                records.append((row["topic"], row["ms"], row["value"].encode()))
            else:
                outputs.append((row["topic"], row["key"], row["value"]))
    return records, outputs


def main() -> None:
    records = list(script())
    outputs = replay(records)
    with gzip.open(GOLDEN, "wt") as f:
        for topic, ms, value in records:
            f.write(json.dumps({"kind": "in", "topic": topic, "ms": ms, "value": value.decode()}) + "\n")
        for topic, key, wire in outputs:
            f.write(json.dumps({"kind": "out", "topic": topic, "key": key, "value": wire}) + "\n")
    kinds: dict[str, int] = {}
    for topic, _, _ in outputs:
        kinds[topic] = kinds.get(topic, 0) + 1
    print(f"{len(records)} records in, {len(outputs)} out: {kinds}", file=sys.stderr)


if __name__ == "__main__":
    main()
