"""Replays a history the live admission agent wrote, and picks out what it published.

A recording (`soak.jsonl.gz`, `demo.jsonl.gz`) holds every record of `tasks.requested`, the event
logs (`events.lane`, `events.task`, `events.memory`) and the decision logs (`tasks.accepted`,
`tasks.rejected`, `lane.*`) as the agent of commit 878855b (the pydantic-record core) left them
on a live run: topic, partition, offset, log time (ms), key and value. Its first line names the
settings the agent ran with (the rest are the defaults) and the run. Both were recorded on a
throw-away checkout of 878855b patched only to dump these topics before its broker stopped:
`bench/soak_fidelity.py --minutes 2` right after its `record` step (its scripted starved spell
moved to start at 50 % of the run, so that it outlasts `cpu_starvation`'s 30 s), and the demo with
the e2e test's short options at the start of its last chapter (the killed agent's decisions and
the standby's after its take-over are both in it).

`replay` decides the history again through the current edge and core, in the live agent's
interleaving: each request (in offset order) is decided after `events.task` and `events.lane`
were folded exactly up to the positions its recorded decision names (`events_task_upto`,
`events_lane_upto`), through the agent's own follower fold; a decision that names none (a
re-send's replay, an unparseable record) folds nothing more first. After the last request the
event logs are folded to their ends, as the live agent kept following them. It returns every
record admission would publish, with the `fallback_activated` announcements of the lane
transitions the folds report, per topic-partition in publishing order.

`written_by_admission` is the same view of the recording: the decision logs whole, and of the
event logs the records admission writes (task events without a worker, `queue_overloaded` and
`fallback_activated` memory events).
"""

from __future__ import annotations

import base64
import gzip
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka.partitioner import DefaultPartitioner

from schemas import LaneMode, MemoryEventType, RouteLane, SourceRecord, Topics
from schemas.settings import Settings
from streams.admission.agent import fallback_event, record_time
from streams.admission.decide import apply
from streams.admission.follower import LogFollower
from streams.admission.record import decide_record
from streams.admission.state import AdmissionState, config_from_settings
from tests.data.admission_golden.record import Published, published

HERE = Path(__file__).resolve().parent
SOAK = HERE / "soak.jsonl.gz"
DEMO = HERE / "demo.jsonl.gz"

#: Memory events admission writes (the lane workers write the others).
ADMISSION_MEMORY = {MemoryEventType.queue_overloaded.value, MemoryEventType.fallback_activated.value}

#: Records per topic-partition, in log (publishing) order: key and value as text.
ByPartition = dict[tuple[str, int], list[tuple[str | None, str]]]


@dataclass(frozen=True)
class Row:
    topic: str
    partition: int
    offset: int
    ts_ms: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True)
class Recording:
    settings: Settings
    rows: list[Row]

    @property
    def topics(self) -> Topics:
        return self.settings.topics

    def log(self, topic: str) -> list[Row]:
        return sorted((r for r in self.rows if r.topic == topic), key=lambda r: (r.partition, r.offset))


def _bytes(row: dict[str, Any], name: str) -> bytes | None:
    if row.get(f"{name}_b64") is not None:
        return base64.b64decode(row[f"{name}_b64"])
    text = row.get(name)
    return text.encode() if text is not None else None


def load_recording(path: Path) -> Recording:
    with gzip.open(path, "rt") as lines:
        head = json.loads(next(lines))
        rows = [Row(r["topic"], r["partition"], r["offset"], r["ts"], _bytes(r, "key"), _bytes(r, "value"))
                for r in map(json.loads, lines)]
    return Recording(Settings(**head["settings"]), rows)


class EventLog:
    """One event log, folded through the follower up to a position; reports lane transitions."""

    def __init__(self, rows: list[Row], follower: LogFollower, out: list[Published]) -> None:
        self.rows = rows
        self.follower = follower
        self.out = out
        self.next = 0

    def to_position(self, position: int | None) -> None:
        rows, topics = self.rows, self.follower.topics
        while self.next < len(rows) and (position is None or rows[self.next].offset < position):
            row = rows[self.next]
            self.next += 1
            transition = self.follower.fold(row.topic, row.offset, row.value).transition
            # The active agent announces each degrade it folds (`AdmissionService.follow`).
            if transition is not None and transition.new_mode is LaneMode.degraded_shared:
                self.out.append((topics.events_memory, transition.lane.value,
                                 fallback_event(transition, row.offset).to_wire().decode()))


def decided_positions(recording: Recording) -> dict[tuple[int, int], tuple[int | None, int | None]]:
    """Per request position: the event-log positions its recorded decision was made on."""
    t = recording.topics
    found: dict[tuple[int, int], set[tuple[int | None, int | None]]] = defaultdict(set)
    for row in recording.rows:
        if row.topic not in (t.tasks_accepted, t.tasks_rejected) or row.value is None:
            continue
        decision = json.loads(row.value)
        source = decision.get("source")
        if source is None or source["topic"] != t.tasks_requested:
            continue
        upto = (decision.get("events_task_upto"), decision.get("events_lane_upto"))
        if upto != (None, None):
            found[(source["partition"], source["offset"])].add(upto)
    ambiguous = {key: sorted(ups) for key, ups in found.items() if len(ups) > 1}
    assert not ambiguous, f"requests decided on more than one state: {ambiguous}"
    return {key: next(iter(ups)) for key, ups in found.items()}


def replay(recording: Recording) -> list[Published]:
    """Every record the current code publishes for the recorded history, in publishing order."""
    settings, t = recording.settings, recording.topics
    state = AdmissionState(config=config_from_settings(settings))
    # Never started: only its fold (claims, the skipped `pending` repeats, decode, fold) runs.
    follower = LogFollower(state, settings.kafka_bootstrap, t, settings.broker)
    out: list[Published] = []
    tasks = EventLog(recording.log(t.events_task), follower, out)
    lanes = EventLog(recording.log(t.events_lane), follower, out)
    positions = decided_positions(recording)
    for row in recording.log(t.tasks_requested):
        task_at, lane_at = positions.get((row.partition, row.offset), (None, None))
        if task_at is not None:
            tasks.to_position(task_at)
        if lane_at is not None:
            lanes.to_position(lane_at)
        source = SourceRecord(topic=t.tasks_requested, partition=row.partition, offset=row.offset)
        # The agent's log time: the record's timestamp in seconds (`AdmissionService.admit`).
        outcome = decide_record(state, row.value, source, record_time(row.ts_ms / 1000))
        apply(state, outcome)
        out += published(outcome, t)
    tasks.to_position(None)
    lanes.to_position(None)
    return out


def by_partition(records: list[Published], topics: Topics) -> ByPartition:
    """Published records placed as the agent's producer places them (murmur2 of the key)."""
    counts = topics.partitions()
    partitioner = DefaultPartitioner()
    placed: ByPartition = defaultdict(list)
    for topic, key, value in records:
        parts = list(range(counts[topic]))
        partition = 0 if len(parts) == 1 else int(partitioner(key.encode() if key is not None else None,
                                                              parts, parts))
        placed[(topic, partition)].append((key, value))
    return dict(placed)


def written_by_admission(recording: Recording) -> ByPartition:
    """The recording's records that admission wrote, per topic-partition in offset order."""
    t = recording.topics
    decisions = {t.tasks_accepted, t.tasks_rejected, *(t.lane(lane) for lane in RouteLane)}
    placed: ByPartition = defaultdict(list)
    for row in sorted(recording.rows, key=lambda r: (r.topic, r.partition, r.offset)):
        if row.value is None:
            continue
        if row.topic in decisions:
            pass
        elif row.topic == t.events_task:
            if json.loads(row.value).get("worker_id") is not None:
                continue
        elif row.topic == t.events_memory:
            if json.loads(row.value).get("event_type") not in ADMISSION_MEMORY:
                continue
        else:
            continue
        placed[(row.topic, row.partition)].append(
            (row.key.decode() if row.key is not None else None, row.value.decode()))
    return dict(placed)
