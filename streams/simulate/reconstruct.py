"""Wire objects back from audit rows, and the requests behind recorded decisions.

ClickHouse keeps the granted request of an acceptance (after any step-down) and only the
model/priority/task id of a refusal. The simulator needs a request the admission core can decide:
the original is rebuilt from the granted one and the recorded degradations, a refused one from
its decision (its size is unknown, so its service time is sampled per model; see
`service_times`).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from enum import StrEnum
from typing import Any

from schemas import AdmissionDecision, GenerationRequest, LaneEvent, ModelName, TaskEvent
from streams.admission.core.verdict import Verdict
from streams.admission.ingest import decision_verdict
from streams.simulate.history import RecordedDecision

#: Producers the simulator gives critical requests: whether a producer may submit critical work
#: never depends on capacity, so it is taken from the recorded outcome rather than from the
#: settings of the agent that recorded it (which the audit tables do not hold).
AUTHORISED_PRODUCER = "simulate-authorised"
UNAUTHORISED_PRODUCER = "simulate-unauthorised"

#: Stand-in shape of a refused request whose body was not recorded (valid for either model).
_STAND_IN: dict[str, Any] = {
    "prompt": "(not recorded)",
    "input_image": "file:///not-recorded.png",
    "cfg": 1.0,
    "width": 832,
    "height": 480,
    "num_frames": 81,
    "fps": 16,
}
_STEPS = {ModelName.anisora: 8, ModelName.phr00t: 4}
_SIZE = re.compile(r"^(\d+)x(\d+)$")
_FPS = re.compile(r"^(\d+)fps x (\d+) frames$")


def recorded_decision(row: dict[str, Any]) -> RecordedDecision:
    source = None
    if row.get("source_offset") is not None:
        source = (int(row["source_partition"] or 0), int(row["source_offset"]))
    return RecordedDecision(
        at=row["occurred_at"],
        outcome=row["outcome"],
        code=row["code"],
        task_id=row["task_id"],
        model=row["model"],
        priority=row["priority"],
        lane=row["lane"],
        lane_mode=row["lane_mode"],
        queue_depth=row["queue_depth"],
        reason=row["reason"],
        replayed=bool(row["replayed"]),
        source=source,
        events_task_upto=row.get("events_task_upto"),
        events_lane_upto=row.get("events_lane_upto"),
    )


def original_request(granted: dict[str, Any], parameters: list[str], requested: list[str]) -> dict[str, Any]:
    """Undo the recorded step-downs, so the simulated core can step the request down itself."""
    body = dict(granted)
    for parameter, value in zip(parameters, requested, strict=False):
        if parameter == "resolution" and (m := _SIZE.match(value)):
            body["width"], body["height"] = int(m.group(1)), int(m.group(2))
        elif parameter == "fps" and (m := _FPS.match(value)):
            body["fps"], body["num_frames"] = int(m.group(1)), int(m.group(2))
        elif parameter == "encoding_profile":
            body["encoding_profile"] = value
    return body


def with_producer(body: dict[str, Any], decision: RecordedDecision) -> dict[str, Any]:
    if body.get("priority") == "critical":
        refused = decision.code == "priority_not_authorised"
        body["producer"] = UNAUTHORISED_PRODUCER if refused else AUTHORISED_PRODUCER
    return body


def request_from_row(row: dict[str, Any], decision: RecordedDecision, at: datetime) -> GenerationRequest | None:
    """The request behind a decision row, or None when it never reached the core (bad input)."""
    if row["request"]:
        granted = json.loads(row["request"])
        body = original_request(granted, list(row["degraded_parameters"]), list(row["degraded_requested"]))
        return GenerationRequest.model_validate(with_producer(body, decision))
    if decision.task_id is None or decision.model is None or decision.code in ("validation_error", "malformed_request"):
        return None
    model = ModelName(decision.model)
    body = {**_STAND_IN, "task_id": decision.task_id, "model": model.value, "steps": _STEPS[model],
            "priority": decision.priority or "standard", "submitted_at": at.isoformat()}
    return GenerationRequest.model_validate(with_producer(body, decision))


def lane_event_from_row(row: dict[str, Any]) -> LaneEvent:
    host = None
    if row["load1"] is not None and row["cpu_cores"] is not None:
        host = {
            "load1": row["load1"],
            "cpu_cores": row["cpu_cores"],
            "artifact_write_ms": row["host_artifact_write_ms"],
            "gpu_sessions_in_use": row["gpu_sessions_in_use"] or 0,
            "gpu_session_quota": row["gpu_session_quota"] if row["gpu_session_quota"] is not None else 1,
            "shared_fallback_enabled": row["shared_fallback_enabled"] if row["shared_fallback_enabled"] is not None else True,
            "vram_used_gib": row["vram_used_gib"],
            "vram_total_gib": row["vram_total_gib"],
            "rss_gib": row["rss_gib"],
        }
    keys = ("event_id", "occurred_at", "event_type", "lane_key", "mode", "fallback_reason",
            "availability", "warm", "worker_id", "served_model", "gpu_sessions_quota_exhausted", "note")
    body = {k: row[k] for k in keys if row[k] is not None}
    body["event_id"] = str(row["event_id"])
    if host is not None:
        body["host"] = host
    return LaneEvent.model_validate(body)


def task_event_from_row(row: dict[str, Any]) -> TaskEvent:
    task = {
        "id": row["task_id"],
        "model": row["model"],
        "type": row["task_type"],
        "status": row["status"],
        "error_msg": row["error_msg"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }
    keys = ("occurred_at", "lane", "error_code", "worker_id", "attempt", "artifact_path",
            "duration_seconds", "artifact_write_ms", "pipeline_seconds")
    # `pipeline_seconds` came with audit migration 4: a row of an older table has no such column.
    body: dict[str, Any] = {k: row[k] for k in keys if row.get(k) is not None}
    body.update(event_id=str(row["event_id"]), task=task)
    return TaskEvent.model_validate(body)


def _text(member: StrEnum | None) -> str | None:
    # `str()` of a StrEnum member is its value.
    return None if member is None else str(member)


def recorded_of(verdict: Verdict, at: datetime) -> RecordedDecision:
    """A verdict of the core in recorded terms (what `as_recorded` reads of its decision)."""
    answer = verdict.replay_of if verdict.replay_of is not None else verdict
    replayed = verdict.replayed
    return RecordedDecision(
        at=at,
        outcome=answer.outcome.value,
        code=_text(answer.code),
        task_id=answer.task_id,
        model=_text(answer.model),
        priority=_text(answer.priority),
        lane=_text(answer.lane),
        lane_mode=_text(answer.mode),
        queue_depth=answer.queue_depth,
        reason=answer.reason,
        replayed=replayed,
        source=verdict.position,
        events_task_upto=None if replayed else verdict.folded[0],
        events_lane_upto=None if replayed else verdict.folded[1],
    )


def as_recorded(decision: AdmissionDecision) -> RecordedDecision:
    """A recorded decision as the fidelity check and the answers read it."""
    return recorded_of(decision_verdict(decision), decision.occurred_at)
