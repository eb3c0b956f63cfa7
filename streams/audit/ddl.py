"""The audit schema as versioned DDL. Every statement is idempotent (IF NOT EXISTS / OR REPLACE).

Because each statement can run again safely, `migrate` re-asserts the whole schema on every run
(a table dropped by hand comes back) and `schema_migrations` records which versions were applied.
Later versions append statements; released versions are never edited.

Every event table is a `ReplacingMergeTree` whose ORDER BY ends in `event_id`: a redelivered copy
of an event has the same sorting key, so copies collapse on merge; exact queries use FINAL or
`uniqExact(event_id)`. ORDER BY runs from low to high cardinality (enum, enum, time, id).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from schemas.enums import TaskStatus
from schemas.tasks import TERMINAL, can_transition

#: Tables written by the sink, in the order `rows.TABLE_COLUMNS` lists them.
TASK_EVENTS = "task_events"
ADMISSION_DECISIONS = "admission_decisions"
LANE_EVENTS = "lane_events"
MEMORY_EVENTS = "memory_events"
REJECTS = "audit_rejects"
TASKS_CURRENT = "tasks_current"
SCHEMA_MIGRATIONS = "schema_migrations"

_TS = "DateTime64(3, 'UTC')"
_ENUM = "LowCardinality(String)"
_OPT_ENUM = "LowCardinality(Nullable(String))"
#: Where each row came from in Kafka, and when ClickHouse got it (the lag benchmark reads it).
_PROVENANCE = f"""
    kafka_topic {_ENUM},
    kafka_partition UInt32,
    kafka_offset UInt64,
    ingested_at {_TS} DEFAULT now64(3)"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    #: database, heartbeat TTL days -> statements
    statements: Callable[[str, int], list[str]]


def _v1_tables(db: str, heartbeat_ttl_days: int) -> list[str]:
    return [
        f"""CREATE TABLE IF NOT EXISTS {db}.{TASK_EVENTS} (
    event_id UUID,
    occurred_at {_TS},
    schema_version UInt16,
    task_id String,
    model {_ENUM},
    task_type {_ENUM},
    status {_ENUM},
    error_msg Nullable(String),
    created_at {_TS},
    updated_at {_TS},
    lane {_OPT_ENUM},
    error_code {_OPT_ENUM},
    worker_id Nullable(String),
    attempt UInt32,
    artifact_path Nullable(String),
    duration_seconds Nullable(Float64),
    artifact_write_ms Nullable(Float64),{_PROVENANCE}
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (model, status, occurred_at, event_id)""",
        f"""CREATE TABLE IF NOT EXISTS {db}.{ADMISSION_DECISIONS} (
    event_id UUID,
    occurred_at {_TS},
    schema_version UInt16,
    outcome {_ENUM},
    task_id Nullable(String),
    model {_OPT_ENUM},
    priority {_OPT_ENUM},
    lane {_OPT_ENUM},
    lane_mode {_OPT_ENUM},
    queue_depth Nullable(UInt32),
    estimated_wait_seconds Nullable(Float64),
    time_to_ready_seconds Nullable(Float64),
    degraded_parameters Array(LowCardinality(String)),
    degraded_requested Array(String),
    degraded_granted Array(String),
    status Nullable(UInt16),
    code {_OPT_ENUM},
    title Nullable(String),
    detail Nullable(String),
    retry_after_seconds Nullable(UInt32),
    reason {_OPT_ENUM},
    errors String COMMENT 'JSON array of {{loc, msg, type}}',
    request String COMMENT 'the admitted GenerationRequest as JSON (empty when none)',
    source_topic Nullable(String),
    source_partition Nullable(UInt32),
    source_offset Nullable(UInt64),
    replayed Bool,{_PROVENANCE}
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (outcome, occurred_at, event_id)""",
        f"""CREATE TABLE IF NOT EXISTS {db}.{LANE_EVENTS} (
    event_id UUID,
    occurred_at {_TS},
    schema_version UInt16,
    event_type {_ENUM},
    lane_key {_ENUM},
    mode {_OPT_ENUM},
    fallback_reason {_OPT_ENUM},
    availability {_OPT_ENUM},
    warm Nullable(Bool),
    worker_id Nullable(String),
    served_model {_OPT_ENUM},
    load1 Nullable(Float64),
    cpu_cores Nullable(UInt32),
    host_artifact_write_ms Nullable(Float64),
    gpu_sessions_in_use Nullable(UInt32),
    gpu_session_quota Nullable(UInt32),
    shared_fallback_enabled Nullable(Bool),
    vram_used_gib Nullable(Float64),
    vram_total_gib Nullable(Float64),
    rss_gib Nullable(Float64),
    gpu_sessions_quota_exhausted Nullable(Bool),
    note Nullable(String),{_PROVENANCE}
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (lane_key, event_type, occurred_at, event_id)
TTL toDateTime(occurred_at) + INTERVAL {heartbeat_ttl_days} DAY DELETE WHERE event_type = 'heartbeat'""",
        f"""CREATE TABLE IF NOT EXISTS {db}.{MEMORY_EVENTS} (
    event_id UUID,
    occurred_at {_TS},
    schema_version UInt16,
    event_type {_ENUM},
    task_id Nullable(String),
    model {_OPT_ENUM},
    lane_mode {_ENUM},
    lane {_OPT_ENUM},
    value Nullable(Float64) COMMENT 'numeric value: GiB, queue depth or seconds (see value_unit)',
    value_text Nullable(String) COMMENT 'the value when a producer sent a string',
    value_unit {_OPT_ENUM},
    reason {_OPT_ENUM},
    timestamp {_TS},
    worker_id Nullable(String),{_PROVENANCE}
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (event_type, lane_mode, occurred_at, event_id)""",
        f"""CREATE TABLE IF NOT EXISTS {db}.{REJECTS} (
    event_id UUID COMMENT 'derived from topic/partition/offset, so redelivery collapses',
    received_at {_TS},
    source_topic {_ENUM},
    source_partition UInt32,
    source_offset UInt64,
    error_kind {_ENUM},
    error String,
    payload String COMMENT 'raw bytes as text (invalid UTF-8 replaced), truncated',
    payload_bytes UInt32,
    ingested_at {_TS} DEFAULT now64(3)
) ENGINE = ReplacingMergeTree
ORDER BY (source_topic, source_partition, source_offset, event_id)""",
        # A view, not a table: it is exact under duplicates (argMax ignores copies) and needs no
        # second write path. Ties on updated_at break on occurred_at, then on terminal status.
        f"""CREATE OR REPLACE VIEW {db}.{TASKS_CURRENT} AS
SELECT
    task_id,
    argMax(model, k) AS model,
    argMax(task_type, k) AS task_type,
    argMax(status, k) AS status,
    argMax(error_code, k) AS error_code,
    argMax(error_msg, k) AS error_msg,
    argMax(lane, k) AS lane,
    argMax(worker_id, k) AS worker_id,
    argMax(artifact_path, k) AS artifact_path,
    argMax(duration_seconds, k) AS duration_seconds,
    max(attempt) AS attempts,
    min(created_at) AS created_at,
    max(updated_at) AS updated_at,
    count() AS events
FROM (
    SELECT *, (updated_at, occurred_at, status IN ('done', 'failed')) AS k
    FROM {db}.{TASK_EVENTS}
)
GROUP BY task_id""",
    ]


#: What `tasks_current` takes from the event that set a task's current state, after the sort key
#: (v2: updated_at, occurred_at, terminal, event_id; v6: log position, event_id); positions in
#: the event tuple follow this order.
_TASK_FIELDS = (
    "model", "task_type", "status", "error_code", "error_msg", "lane", "worker_id",
    "artifact_path", "duration_seconds", "attempt", "created_at", "updated_at",
)
_KEY_WIDTH = 4


def fold_moves() -> list[str]:
    """Every `from>to` the view applies (`from` empty for a task's first event): the moves
    `schemas.tasks` allows, and a repeat of the current status (a retry re-announcing
    `processing`, a redelivered terminal event), which refreshes the fields."""
    moves = {
        f"{'' if before is None else before.value}>{after.value}"
        for before in (None, *TaskStatus)
        for after in TaskStatus
        if can_transition(before, after) or before is after
    }
    return sorted(moves)


def _v2_defensive_tasks_current(db: str, heartbeat_ttl_days: int) -> list[str]:
    pos = {name: _KEY_WIDTH + 1 + i for i, name in enumerate(_TASK_FIELDS)}
    terminal = ", ".join(f"'{s.value}'" for s in sorted(TERMINAL))
    moves = ", ".join(f"'{m}'" for m in fold_moves())
    last = ",\n    ".join(
        f"evs[applied[-1]].{pos[name]} AS {name}"
        for name in _TASK_FIELDS
        if name not in ("attempt", "created_at", "updated_at")
    )
    return [
        # Each task's events (copies removed), in order, folded from "new": an event whose move is
        # not in `fold_moves()` for the state reached so far is ignored and counted. Tasks with
        # no legal first event have no state and are left out.
        f"""CREATE OR REPLACE VIEW {db}.{TASKS_CURRENT} AS
SELECT
    task_id,
    {last},
    arrayMax(arrayMap(i -> evs[i].{pos["attempt"]}, applied)) AS attempts,
    evs[applied[1]].{pos["created_at"]} AS created_at,
    evs[applied[-1]].{pos["updated_at"]} AS updated_at,
    toUInt64(length(evs)) AS events,
    toUInt64(length(evs) - length(applied)) AS ignored_events
FROM (
    SELECT task_id, evs,
        arrayFold(
            (acc, e, i) -> if(
                has([{moves}], concat(acc.1, '>', toString(e.{pos["status"]}))),
                (toString(e.{pos["status"]}), arrayPushBack(acc.2, i)),
                acc),
            evs, arrayEnumerate(evs), ('', CAST([], 'Array(UInt32)'))
        ).2 AS applied
    FROM (
        SELECT task_id,
            arraySort(groupUniqArray((updated_at, occurred_at, status IN ({terminal}), event_id,
                                      {", ".join(_TASK_FIELDS)}))) AS evs
        FROM {db}.{TASK_EVENTS}
        GROUP BY task_id
    )
)
WHERE notEmpty(applied)""",
    ]


def _v3_decision_provenance(db: str, heartbeat_ttl_days: int) -> list[str]:
    # Which decision rows are a task's own: a replay points at it, an answer to an invalid
    # re-send of a decided id (`decided_earlier`) is about that one record only.
    return [
        f"ALTER TABLE {db}.{ADMISSION_DECISIONS} ADD COLUMN IF NOT EXISTS replay_of Nullable(UUID) AFTER replayed",
        f"ALTER TABLE {db}.{ADMISSION_DECISIONS} ADD COLUMN IF NOT EXISTS decided_earlier Bool DEFAULT false AFTER replay_of",
    ]


def _v4_pipeline_seconds(db: str, heartbeat_ttl_days: int) -> list[str]:
    """Lane workers' GPU busy time per job (`TaskEvent.pipeline_seconds`): busy fraction per lane."""
    return [
        f"ALTER TABLE {db}.{TASK_EVENTS} ADD COLUMN IF NOT EXISTS pipeline_seconds Nullable(Float64) "
        "AFTER artifact_write_ms"
    ]


def _v5_folded_positions(db: str, heartbeat_ttl_days: int) -> list[str]:
    """How far into `events.task` / `events.lane` each decision's state had folded: the capacity
    simulator folds recorded worker events by these positions, not by their times."""
    return [
        f"ALTER TABLE {db}.{ADMISSION_DECISIONS} ADD COLUMN IF NOT EXISTS {column} Nullable(UInt64) "
        f"AFTER {after}"
        for column, after in (("events_task_upto", "decided_earlier"), ("events_lane_upto", "events_task_upto"))
    ]


#: Where a row sits in its Kafka partition: the order of one entity's events. Every task (lane)
#: event is keyed by its task id (lane key), so one partition holds all of an entity's events in
#: the order they were published; producer clocks tie and drift, so time never orders them.
LOG_POSITION = "(kafka_partition, kafka_offset)"


def _v6_tasks_current_in_log_order(db: str, heartbeat_ttl_days: int) -> list[str]:
    pos = {name: 3 + i for i, name in enumerate(_TASK_FIELDS)}
    moves = ", ".join(f"'{m}'" for m in fold_moves())
    last = ",\n    ".join(
        f"evs[applied[-1]].{pos[name]} AS {name}"
        for name in _TASK_FIELDS
        if name not in ("attempt", "created_at", "updated_at")
    )
    fields = ", ".join(_TASK_FIELDS)
    any_fields = ", ".join(f"any({name}) AS {name}" for name in _TASK_FIELDS)
    return [
        # As v2, but a task's events are replayed in log order: (partition, offset) of the first
        # stored copy of each event id (a producer retry may have written an event twice), then
        # the event id. Times are only shown.
        f"""CREATE OR REPLACE VIEW {db}.{TASKS_CURRENT} AS
SELECT
    task_id,
    {last},
    arrayMax(arrayMap(i -> evs[i].{pos["attempt"]}, applied)) AS attempts,
    evs[applied[1]].{pos["created_at"]} AS created_at,
    evs[applied[-1]].{pos["updated_at"]} AS updated_at,
    toUInt64(length(evs)) AS events,
    toUInt64(length(evs) - length(applied)) AS ignored_events
FROM (
    SELECT task_id, evs,
        arrayFold(
            (acc, e, i) -> if(
                has([{moves}], concat(acc.1, '>', toString(e.{pos["status"]}))),
                (toString(e.{pos["status"]}), arrayPushBack(acc.2, i)),
                acc),
            evs, arrayEnumerate(evs), ('', CAST([], 'Array(UInt32)'))
        ).2 AS applied
    FROM (
        SELECT task_id, arraySort(groupArray((log_position, event_id, {fields}))) AS evs
        FROM (
            SELECT task_id, event_id, min({LOG_POSITION}) AS log_position, {any_fields}
            FROM {db}.{TASK_EVENTS}
            GROUP BY task_id, event_id
        )
        GROUP BY task_id
    )
)
WHERE notEmpty(applied)""",
    ]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "audit tables and tasks_current view", _v1_tables),
    Migration(2, "tasks_current ignores task events illegal for the state reached", _v2_defensive_tasks_current),
    Migration(3, "admission_decisions: replay_of, decided_earlier", _v3_decision_provenance),
    Migration(4, "task_events.pipeline_seconds", _v4_pipeline_seconds),
    Migration(5, "admission_decisions: events_task_upto, events_lane_upto", _v5_folded_positions),
    Migration(6, "tasks_current replays a task's events in log order", _v6_tasks_current_in_log_order),
)


def migrations_table(db: str) -> str:
    return f"""CREATE TABLE IF NOT EXISTS {db}.{SCHEMA_MIGRATIONS} (
    version UInt32,
    name String,
    applied_at {_TS} DEFAULT now64(3)
) ENGINE = ReplacingMergeTree(applied_at)
ORDER BY version"""


#: Columns holding request bodies and so prompts (table, column, row time): a column TTL empties
#: them after the retention days (`retention.align_prompt_retention`); the rows stay.
PROMPT_COLUMNS: tuple[tuple[str, str, str], ...] = (
    (ADMISSION_DECISIONS, "request", "occurred_at"),
    (REJECTS, "payload", "received_at"),
)


def prompt_ttl_statement(db: str, table: str, column: str, time: str, days: int) -> str:
    return f"ALTER TABLE {db}.{table} MODIFY COLUMN {column} TTL toDateTime({time}) + INTERVAL {days} DAY"
