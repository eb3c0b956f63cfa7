"""Admission state <-> a versioned, compressed snapshot document (pure; no Kafka here).

A snapshot is the folded state plus the exact input positions it covers (`folded_upto` of the
event logs and decision logs, the decided request offsets), so a start-up loads it and folds
only what follows. Anything unexpected in a snapshot (another version, a bad checksum, a field
that does not parse) raises `SnapshotUnusable`; the caller then rebuilds from the logs.

The body is the JSON document, a newline, then each remembered verdict packed as one line
(`core.answer_rows`, in the order of `tasks.ids`): stored as they are, not escaped into a JSON
string, and loaded packed (a verdict is unpacked when a re-send first asks for it).
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections import OrderedDict, deque
from typing import Any

from schemas import (
    Availability,
    FallbackReason,
    LaneMode,
    ModelName,
    Priority,
    RouteLane,
    TaskStatus,
)
from streams.admission.core.facts import HeartbeatFacts
from streams.admission.core.lane_queue import LaneQueue, QueuedItem
from streams.admission.errors import SnapshotUnusable
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
SNAPSHOT_VERSION = 3

_STATUS = {s.value: s for s in TaskStatus}


def _enum(kind: Any, value: str | None) -> Any:
    return kind(value) if value is not None else None


def _value(member: Any) -> str | None:
    return member.value if member is not None else None


def _lane_doc(lane: LaneState) -> dict[str, Any]:
    return {
        "known": lane.known,
        "availability": lane.availability_set.value,
        "warm": lane.warm,
        "mode": _value(lane.routing),
        "reason": _value(lane.fallback_reason),
        "updated_at": lane.updated_at,
        "workers": [
            [w.worker_id, w.availability.value, w.warm, _value(w.beat.served_model), w.beat.load1,
             w.beat.cpu_cores, w.beat.artifact_write_ms, w.beat.gpu_sessions_in_use,
             w.beat.gpu_session_quota, w.beat.shared_fallback_enabled, w.seen_at, w.cpu_over_since,
             w.beat.quota_exhausted_flag]
            for w in lane.workers.values()
        ],
    }


def _queue_doc(queue: LaneQueue) -> dict[str, Any]:
    return {
        "items": [
            [i.task_id, i.priority.value, i.enqueued_at, _value(i.model), i.task_type, i.submitted_at]
            for i in queue.items.values()
        ],
        "service_times": list(queue.service_times),
    }


def state_document(state: AdmissionState) -> dict[str, Any]:
    """Everything a fold reads (config is not state: it comes from settings)."""
    records = state.tasks.values()
    return {
        "lanes": {lane.value: _lane_doc(s) for lane, s in state.lanes.items()},
        "queues": {lane.value: _queue_doc(q) for lane, q in state.queues.items()},
        # Columns, not rows: a start-up loads them with a few C-level passes.
        "tasks": {
            "ids": list(state.tasks),
            "status": [r.status.value for r in records],
            "decided_ts": [r.decided_ts for r in records],
            "preempted": [task_id for task_id, r in state.tasks.items() if r.preempted],
        },
        "newest_decision_ts": state.newest_decision_ts,
        "early": [[task_id, status.value, at] for task_id, (status, at) in state.early.items()],
        "decided_offsets": {
            str(p): [o.upto, list(o.holes)] for p, o in state.decided_offsets.items()
        },
        "folded_upto": dict(state.folded_upto),
        "counters": {
            "illegal_lane_transitions": state.counters.illegal_lane_transitions,
            "illegal_task_transitions": state.counters.illegal_task_transitions,
            "conflicting_decisions": state.counters.conflicting_decisions,
        },
        "model_service_times": {m: list(t) for m, t in state.model_service_times.items()},
    }


def encode_snapshot(state: AdmissionState, covers: dict[str, int]) -> bytes:
    """The compressed snapshot body; `covers` = next offset to read per input topic."""
    answers = [r.packed_answer() for r in state.tasks.values()]
    return pack_snapshot({"version": SNAPSHOT_VERSION, "covers": covers, "state": state_document(state)}, answers)


def pack_snapshot(doc: dict[str, Any], answers: list[str]) -> bytes:
    return zlib.compress("\n".join([json.dumps(doc, separators=(",", ":")), *answers]).encode(), 1)


def unpack_snapshot(body: bytes) -> tuple[Any, list[str]]:
    """The document and the packed answers after it; zlib.error or ValueError if it does not decode."""
    lines = zlib.decompress(body).decode().split("\n")
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
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise SnapshotUnusable(f"snapshot state does not parse: {exc!r}") from exc


def _state_from(doc: dict[str, Any], answers: list[str], config: AdmissionConfig) -> AdmissionState:
    state = AdmissionState(config=config)
    for name, lane_doc in doc["lanes"].items():
        lane = state.lane(RouteLane(name))
        lane.known = bool(lane_doc["known"])
        lane.availability_set = Availability(lane_doc["availability"])
        lane.warm = bool(lane_doc["warm"])
        lane.routing = _enum(LaneMode, lane_doc["mode"])
        lane.fallback_reason = _enum(FallbackReason, lane_doc["reason"])
        lane.updated_at = float(lane_doc["updated_at"])
        for (wid, avail, warm, served, load1, cores, write_ms, in_use, quota, fallback, seen, over,
             flag) in lane_doc["workers"]:
            beat = HeartbeatFacts(
                lane=lane.lane, worker_id=wid, availability=Availability(avail), warm=bool(warm),
                served_model=_enum(ModelName, served), load1=float(load1), cpu_cores=int(cores),
                artifact_write_ms=write_ms, gpu_sessions_in_use=int(in_use), gpu_session_quota=int(quota),
                shared_fallback_enabled=bool(fallback), quota_exhausted_flag=bool(flag), at=float(seen),
            )
            lane.workers[wid] = WorkerSignal(beat, over)
    for name, queue_doc in doc["queues"].items():
        queue = state.queue(RouteLane(name))
        for task_id, priority, enqueued, model, task_type, submitted in queue_doc["items"]:
            queue.add(QueuedItem(task_id=task_id, priority=Priority(priority), enqueued_at=float(enqueued),
                                 model=_enum(ModelName, model), task_type=task_type, submitted_at=submitted))
        queue.service_times.extend(float(t) for t in queue_doc["service_times"])
    tasks = doc["tasks"]
    ids: list[str] = tasks["ids"]
    decided: list[float] = [float(t) for t in tasks["decided_ts"]]
    answers = answers if ids else []
    if not len(ids) == len(answers) == len(decided) == len(tasks["status"]):
        raise SnapshotUnusable("snapshot task columns differ in length")
    statuses = map(_STATUS.__getitem__, tasks["status"])
    state.tasks = {task_id: TaskRecord(status, at, None, False, packed)
                   for task_id, status, at, packed in zip(ids, statuses, decided, answers, strict=True)}
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
