"""Message -> ClickHouse row, one mapper per table. Pure: no Kafka, no ClickHouse, no clock.

`to_row` decodes a record's bytes with the contract of its topic and returns the table and row;
anything that does not decode, or does not fit a column, becomes a row of the rejects table
instead (see `deadletter`), so one bad record never blocks the sink.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, NamedTuple

from pydantic import BaseModel

from schemas.decisions import AdmissionDecision
from schemas.errors import PayloadTooLarge
from schemas.lane import LaneEvent
from schemas.memory import MemoryDiagnosticEvent
from schemas.tasks import TaskEvent
from schemas.topics import Topics
from schemas.wire import decode
from streams.audit import ddl
from streams.audit.deadletter import reject_row
from streams.audit.errors import RowError
from streams.audit.prompt_privacy import reject_fields, request_json

_PROVENANCE = ("kafka_topic", "kafka_partition", "kafka_offset")

TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    ddl.TASK_EVENTS: (
        "event_id", "occurred_at", "schema_version", "task_id", "model", "task_type", "status",
        "error_msg", "created_at", "updated_at", "lane", "error_code", "worker_id", "attempt",
        "artifact_path", "duration_seconds", "artifact_write_ms", "pipeline_seconds", *_PROVENANCE,
    ),
    ddl.ADMISSION_DECISIONS: (
        "event_id", "occurred_at", "schema_version", "outcome", "task_id", "model", "priority",
        "lane", "lane_mode", "queue_depth", "estimated_wait_seconds", "time_to_ready_seconds",
        "degraded_parameters", "degraded_requested", "degraded_granted", "status", "code",
        "title", "detail", "retry_after_seconds", "reason", "errors", "request", "source_topic",
        "source_partition", "source_offset", "replayed", "replay_of", "decided_earlier",
        "events_task_upto", "events_lane_upto", *_PROVENANCE,
    ),
    ddl.LANE_EVENTS: (
        "event_id", "occurred_at", "schema_version", "event_type", "lane_key", "mode",
        "fallback_reason", "availability", "warm", "worker_id", "served_model", "load1",
        "cpu_cores", "host_artifact_write_ms", "gpu_sessions_in_use", "gpu_session_quota",
        "shared_fallback_enabled", "vram_used_gib", "vram_total_gib", "rss_gib",
        "gpu_sessions_quota_exhausted", "note", *_PROVENANCE,
    ),
    ddl.MEMORY_EVENTS: (
        "event_id", "occurred_at", "schema_version", "event_type", "task_id", "model",
        "lane_mode", "lane", "value", "value_text", "value_unit", "reason", "timestamp",
        "worker_id", *_PROVENANCE,
    ),
    ddl.REJECTS: (
        "event_id", "received_at", "source_topic", "source_partition", "source_offset",
        "error_kind", "error", "payload", "payload_bytes",
    ),
}

UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1


class Source(NamedTuple):
    """Where a record came from; a tuple because one is built per record on the hot path."""

    topic: str
    partition: int
    offset: int


class MappedRow(NamedTuple):
    table: str
    row: list[Any]
    #: `occurred_at` of the event (None for rejects): the sink's lag metric reads it.
    occurred_at: datetime | None
    #: why the record became a rejects row (`invalid`, `too_large`, ...); None for events.
    reject_kind: str | None = None


def _uint(value: int | None, limit: int, name: str) -> int | None:
    if value is not None and value > limit:
        raise RowError(f"{name}={value} exceeds the column's maximum {limit}")
    return value


# Every enum of the contract is a StrEnum, so its members are str and go into the String columns
# as they are (no per-field `.value` lookups on the hot path).


def task_event_row(event: TaskEvent, source: Source) -> list[Any]:
    task = event.task
    return [
        event.event_id, event.occurred_at, event.schema_version, task.id, task.model, task.type,
        task.status, task.error_msg, task.created_at, task.updated_at, event.lane,
        event.error_code, event.worker_id, _uint(event.attempt, UINT32_MAX, "attempt"),
        event.artifact_path, event.duration_seconds, event.artifact_write_ms, event.pipeline_seconds,
        *source,
    ]


def admission_decision_row(decision: AdmissionDecision, source: Source,
                           prompt_key: bytes | None = None) -> list[Any]:
    src = decision.source
    return [
        decision.event_id, decision.occurred_at, decision.schema_version, decision.outcome,
        decision.task_id, decision.model, decision.priority, decision.lane,
        decision.lane_mode, _uint(decision.queue_depth, UINT32_MAX, "queue_depth"),
        decision.estimated_wait_seconds, decision.time_to_ready_seconds,
        [d.parameter for d in decision.degradations],
        [d.requested for d in decision.degradations],
        [d.granted for d in decision.degradations],
        decision.status, decision.code, decision.title, decision.detail,
        _uint(decision.retry_after_seconds, UINT32_MAX, "retry_after_seconds"),
        decision.reason,
        json.dumps([e.model_dump(mode="json") for e in decision.errors]) if decision.errors else "[]",
        request_json(decision.request, prompt_key) if decision.request is not None else "",
        src.topic if src else None,
        _uint(src.partition, UINT32_MAX, "source.partition") if src else None,
        _uint(src.offset, UINT64_MAX, "source.offset") if src else None,
        decision.replayed, decision.replay_of, decision.decided_earlier,
        _uint(decision.events_task_upto, UINT64_MAX, "events_task_upto"),
        _uint(decision.events_lane_upto, UINT64_MAX, "events_lane_upto"), *source,
    ]


def lane_event_row(event: LaneEvent, source: Source) -> list[Any]:
    host = event.host
    return [
        event.event_id, event.occurred_at, event.schema_version, event.event_type,
        event.lane_key, event.mode, event.fallback_reason,
        event.availability, event.warm, event.worker_id, event.served_model,
        host.load1 if host else None,
        _uint(host.cpu_cores, UINT32_MAX, "cpu_cores") if host else None,
        host.artifact_write_ms if host else None,
        _uint(host.gpu_sessions_in_use, UINT32_MAX, "gpu_sessions_in_use") if host else None,
        _uint(host.gpu_session_quota, UINT32_MAX, "gpu_session_quota") if host else None,
        host.shared_fallback_enabled if host else None,
        host.vram_used_gib if host else None, host.vram_total_gib if host else None,
        host.rss_gib if host else None, event.gpu_sessions_quota_exhausted, event.note,
        *source,
    ]


def memory_event_row(event: MemoryDiagnosticEvent, source: Source) -> list[Any]:
    numeric = isinstance(event.value, int | float) and not isinstance(event.value, bool)
    return [
        event.event_id, event.occurred_at, event.schema_version, event.event_type,
        event.task_id, event.model, event.lane_mode, event.lane,
        float(event.value) if numeric else None,  # type: ignore[arg-type]
        event.value if isinstance(event.value, str) else None,
        event.value_unit, event.reason, event.timestamp or event.occurred_at,
        event.worker_id, *source,
    ]


@dataclass(frozen=True)
class Route:
    table: str
    model: type[BaseModel]
    mapper: Callable[[Any, Source], list[Any]]


def routes(topics: Topics, prompt_key: bytes | None = None) -> dict[str, Route]:
    """Topic -> (table, contract, mapper) for every topic the sink audits; with `prompt_key`,
    decisions store keyed hashes of their prompts (`prompt_privacy`)."""
    decision_row = (admission_decision_row if prompt_key is None
                    else partial(admission_decision_row, prompt_key=prompt_key))
    decisions = Route(ddl.ADMISSION_DECISIONS, AdmissionDecision, decision_row)
    return {
        topics.events_task: Route(ddl.TASK_EVENTS, TaskEvent, task_event_row),
        topics.events_lane: Route(ddl.LANE_EVENTS, LaneEvent, lane_event_row),
        topics.events_memory: Route(ddl.MEMORY_EVENTS, MemoryDiagnosticEvent, memory_event_row),
        topics.tasks_accepted: decisions,
        topics.tasks_rejected: decisions,
    }


_REJECT_PAYLOAD = TABLE_COLUMNS[ddl.REJECTS].index("payload")
_REJECT_ERROR = TABLE_COLUMNS[ddl.REJECTS].index("error")


def _reject(source: Source, payload: bytes | None, kind: str, error: str, received_at: datetime,
            prompt_key: bytes | None = None) -> MappedRow:
    row = reject_row(source, payload, kind, error, received_at)
    if prompt_key is not None:
        row[_REJECT_PAYLOAD], row[_REJECT_ERROR] = reject_fields(
            row[_REJECT_PAYLOAD], row[_REJECT_ERROR], payload or b"", prompt_key)
    return MappedRow(ddl.REJECTS, row, None, kind)


def decode_record(
    route_map: dict[str, Route], source: Source, payload: bytes | None, received_at: datetime,
    prompt_key: bytes | None = None,
) -> tuple[Route, BaseModel] | MappedRow:
    """The record's route and message, or its rejects row. Never raises for bad input."""
    route = route_map.get(source.topic)
    if route is None:
        return _reject(source, payload, "unknown_topic", "no audit route", received_at, prompt_key)
    if payload is None:
        return _reject(source, payload, "empty", "record has no value", received_at, prompt_key)
    try:
        return route, decode(route.model, payload)
    except PayloadTooLarge as exc:
        return _reject(source, payload, "too_large", str(exc), received_at, prompt_key)
    except ValueError as exc:  # pydantic's ValidationError
        return _reject(source, payload, "invalid", str(exc), received_at, prompt_key)


def build_row(route: Route, message: BaseModel, source: Source, payload: bytes, received_at: datetime,
              prompt_key: bytes | None = None) -> MappedRow:
    """The decoded message's row, or its rejects row when a value does not fit its column."""
    try:
        row = route.mapper(message, source)
    except RowError as exc:
        return _reject(source, payload, "unstorable", str(exc), received_at, prompt_key)
    return MappedRow(route.table, row, getattr(message, "occurred_at", None))


def to_row(
    route_map: dict[str, Route], source: Source, payload: bytes | None, received_at: datetime,
    prompt_key: bytes | None = None,
) -> MappedRow:
    """Never raises for bad input: what cannot be stored becomes a rejects row."""
    decoded = decode_record(route_map, source, payload, received_at, prompt_key)
    if isinstance(decoded, MappedRow):
        return decoded
    assert payload is not None
    return build_row(*decoded, source, payload, received_at, prompt_key)
