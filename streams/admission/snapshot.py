"""Admission state <-> a versioned, compressed snapshot document (pure; no Kafka here).

A snapshot is the folded state plus the exact input positions it covers (`folded_upto` of the
event logs and decision logs, the decided request offsets), so a start-up loads it and folds
only what follows. Anything unexpected in a snapshot (another version, a bad checksum, a field
that does not parse) raises `SnapshotUnusable`; the caller then rebuilds from the logs.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections import OrderedDict, deque
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from schemas import (
    Availability,
    HostPressure,
    ModelName,
    Priority,
    RouteLane,
    TaskStatus,
    VideoExecutionLane,
)
from schemas.lane import SharedLane
from streams.admission.errors import SnapshotUnusable
from streams.admission.lane_queue import LaneQueue, QueuedItem
from streams.admission.state import (
    AdmissionConfig,
    AdmissionState,
    DecidedOffsets,
    FoldCounters,
    LaneState,
    TaskRecord,
    WorkerSignal,
)

#: Bumped whenever the document's shape or the meaning of a fold changes: an older snapshot is
#: then ignored (with a warning) and the state rebuilt from the logs.
SNAPSHOT_VERSION = 2

_STATUS = {s.value: s for s in TaskStatus}


def _dt(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def _lane_doc(lane: LaneState) -> dict[str, Any]:
    return {
        "seed": lane.seed.model_dump(mode="json") if lane.seed is not None else None,
        "workers": [
            [w.worker_id, w.availability.value, w.warm, w.served_model.value if w.served_model else None,
             w.host.model_dump(mode="json"), _dt(w.seen_at), _dt(w.cpu_over_since), w.quota_exhausted_flag]
            for w in lane.workers.values()
        ],
    }


def _queue_doc(queue: LaneQueue) -> dict[str, Any]:
    return {
        "items": [
            [i.task_id, i.priority.value, _dt(i.enqueued_at), i.model.value if i.model else None,
             i.task_type, _dt(i.submitted_at)]
            for i in queue.items.values()
        ],
        "service_times": list(queue.service_times),
    }


def state_document(state: AdmissionState) -> dict[str, Any]:
    """Everything a fold reads (config is not state: it comes from settings).

    JSON-able but for `tasks.answers` (bytes), which `pack_snapshot` stores after the document.
    """
    return {
        "lanes": {lane.value: _lane_doc(s) for lane, s in state.lanes.items()},
        "queues": {lane.value: _queue_doc(q) for lane, q in state.queues.items()},
        # Columns, not rows: a start-up loads them with a few C-level passes. The answers are
        # not in the document at all but after it (see `encode_snapshot`).
        "tasks": {
            "ids": list(state.tasks),
            "status": [r.status.value for r in state.tasks.values()],
            "decided_ts": [r.decided_ts for r in state.tasks.values()],
            "preempted": [task_id for task_id, r in state.tasks.items() if r.preempted],
            "answers": [r.answer for r in state.tasks.values()],
        },
        "newest_decision_ts": state.newest_decision_ts,
        "early": [[task_id, status.value, at] for task_id, (status, at) in state.early.items()],
        "decided_offsets": {
            str(p): [o.upto, list(o.holes)] for p, o in state.decided_offsets.items()
        },
        "folded_upto": dict(state.folded_upto),
        "counters": vars(state.counters).copy(),
        "model_service_times": {m: list(t) for m, t in state.model_service_times.items()},
    }


def encode_snapshot(state: AdmissionState, covers: dict[str, int]) -> bytes:
    """The compressed snapshot body; `covers` = next offset to read per input topic.

    The body is the JSON document, a newline, then each task's answer (compact JSON, which
    never holds a raw newline) one per line in the order of `tasks.ids`: stored as they are,
    not escaped into a JSON string, so neither side re-encodes them.
    """
    document = state_document(state)
    answers = document["tasks"].pop("answers")
    return pack_snapshot({"version": SNAPSHOT_VERSION, "covers": covers, "state": document}, answers)


def pack_snapshot(doc: dict[str, Any], answers: list[bytes]) -> bytes:
    return zlib.compress(json.dumps(doc, separators=(",", ":")).encode() + b"\n" + b"\n".join(answers), 1)


def unpack_snapshot(body: bytes) -> tuple[Any, list[bytes]]:
    """The document and the answers after it; zlib.error or ValueError if it does not decode."""
    # One split: slicing the answers off first would copy them again.
    lines = zlib.decompress(body).split(b"\n")
    return json.loads(lines[0]), lines[1:]


def checksum(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def decode_snapshot(body: bytes, config: AdmissionConfig) -> tuple[AdmissionState, dict[str, int]]:
    """The state and the positions it covers; `SnapshotUnusable` for anything unexpected."""
    try:
        doc, answers = unpack_snapshot(body)
    except (zlib.error, ValueError) as exc:
        raise SnapshotUnusable(f"snapshot body does not decode: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("version") != SNAPSHOT_VERSION:
        found = doc.get("version") if isinstance(doc, dict) else None
        raise SnapshotUnusable(f"snapshot version {found!r} is not {SNAPSHOT_VERSION}")
    try:
        covers = {str(k): int(v) for k, v in doc["covers"].items()}
        return _state_from(doc["state"], answers, config), covers
    except (KeyError, TypeError, ValueError, IndexError, ValidationError) as exc:
        raise SnapshotUnusable(f"snapshot state does not parse: {exc!r}") from exc


def _state_from(doc: dict[str, Any], answers: list[bytes], config: AdmissionConfig) -> AdmissionState:
    state = AdmissionState(config=config)
    for name, lane_doc in doc["lanes"].items():
        lane = state.lane(RouteLane(name))
        seed = lane_doc["seed"]
        if seed is not None:
            model = SharedLane if lane.lane is RouteLane.shared else VideoExecutionLane
            lane.seed = model.model_validate(seed)
        for wid, avail, warm, served, host, seen, over, quota in lane_doc["workers"]:
            seen_at = _parse_dt(seen)
            assert seen_at is not None
            lane.workers[wid] = WorkerSignal(
                worker_id=wid, availability=Availability(avail), warm=bool(warm),
                served_model=ModelName(served) if served else None,
                host=HostPressure.model_validate(host), seen_at=seen_at,
                cpu_over_since=_parse_dt(over), quota_exhausted_flag=bool(quota),
            )
    for name, queue_doc in doc["queues"].items():
        queue = state.queue(RouteLane(name))
        for task_id, priority, enqueued, model, task_type, submitted in queue_doc["items"]:
            enqueued_at = _parse_dt(enqueued)
            assert enqueued_at is not None
            queue.add(QueuedItem(
                task_id=task_id, priority=Priority(priority), enqueued_at=enqueued_at,
                model=ModelName(model) if model else None, task_type=task_type,
                submitted_at=_parse_dt(submitted),
            ))
        queue.service_times.extend(float(t) for t in queue_doc["service_times"])
    tasks = doc["tasks"]
    ids: list[str] = tasks["ids"]
    decided: list[float] = [float(t) for t in tasks["decided_ts"]]
    answers = answers if ids else []
    if not len(ids) == len(answers) == len(decided) == len(tasks["status"]):
        raise SnapshotUnusable("snapshot task columns differ in length")
    statuses = map(_STATUS.__getitem__, tasks["status"])
    state.tasks = dict(zip(ids, map(TaskRecord, statuses, decided, answers), strict=True))
    for task_id in tasks["preempted"]:
        state.tasks[task_id].preempted = True
    state.expiry = sorted(zip(decided, ids, strict=True))
    state.newest_decision_ts = float(doc["newest_decision_ts"])
    state.early = OrderedDict((t, (_STATUS[s], float(at))) for t, s, at in doc["early"])
    state.decided_offsets = {
        int(p): DecidedOffsets(upto=int(upto), holes=OrderedDict.fromkeys(int(h) for h in holes))
        for p, (upto, holes) in doc["decided_offsets"].items()
    }
    state.folded_upto = {str(k): int(v) for k, v in doc["folded_upto"].items()}
    state.counters = FoldCounters(**doc["counters"])
    state.model_service_times = {
        m: deque((float(x) for x in t), maxlen=config.service_window)
        for m, t in doc["model_service_times"].items()
    }
    return state
