"""Every dashboard panel's SQL, in one place: Grafana's JSON and `framegate report` both read it.

SQL uses grafana-clickhouse-datasource macros and the `${database}` dashboard variable. Each
panel declares the columns it returns (name, kind) so a test can run it and check the shape:
`time` (DateTime/DateTime64), `string`, `number` (nullable allowed for every kind).
Aggregates read `FINAL` so redelivered copies not yet merged never count twice.
"Latest" of one entity is its last event in log order, `(kafka_partition, kafka_offset)`: every
lane (task) event is keyed by its lane key (task id), so one partition holds an entity's events
in publishing order, while producer clocks tie and drift. Time only places rows in windows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from schemas.policy import DEGRADED_QUEUE_POLICY, WITHDRAWAL_POLICY

ColumnKind = Literal["time", "string", "number"]
PanelKind = Literal["timeseries", "bar", "table"]

MAX_DEPTH = DEGRADED_QUEUE_POLICY.max_depth
MAX_WAIT_S = DEGRADED_QUEUE_POLICY.max_wait_seconds
#: Withdrawal policy thresholds drawn as reference lines (degradation contract section 4).
CPU_LOAD_PER_CORE_LIMIT = WITHDRAWAL_POLICY.cpu_load_per_core
CPU_STARVATION_S = WITHDRAWAL_POLICY.cpu_starvation_seconds
IO_WRITE_MS_LIMIT = WITHDRAWAL_POLICY.io_saturation_ms


@dataclass(frozen=True)
class Panel:
    key: str
    title: str
    section: str
    kind: PanelKind
    sql: str
    columns: tuple[tuple[str, ColumnKind], ...]
    description: str = ""
    unit: str = "short"
    #: Numeric columns that are fixed limits: drawn dashed, not as series.
    limits: tuple[str, ...] = ()
    #: A state, not a rate: drawn as steps (holds until the next change).
    steps: bool = False

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)


SECTIONS = ("Lanes", "Admission", "Memory", "Tasks")

PANELS: tuple[Panel, ...] = (
    # --- lanes ---------------------------------------------------------------------------------
    Panel(
        "lane_availability", "Lane availability (2 ready, 1 cold, 0 unavailable)", "Lanes", "timeseries",
        """SELECT $__timeInterval(occurred_at) AS time, lane_key,
    argMax(multiIf(availability = 'ready', 2, availability = 'cold', 1, 0), (kafka_partition, kafka_offset)) AS availability_level
FROM ${database}.lane_events
WHERE $__timeFilter(occurred_at) AND availability IS NOT NULL
GROUP BY time, lane_key
ORDER BY time, lane_key""",
        (("time", "time"), ("lane_key", "string"), ("availability_level", "number")),
        "Last reported availability per lane and interval, from lane_state events and heartbeats.",
        steps=True,
    ),
    Panel(
        "lane_mode", "Lane mode (1 degraded_shared, 0 dedicated)", "Lanes", "timeseries",
        """SELECT $__timeInterval(occurred_at) AS time, lane_key,
    argMax(if(mode = 'degraded_shared', 1, 0), (kafka_partition, kafka_offset)) AS degraded
FROM ${database}.lane_events
WHERE $__timeFilter(occurred_at) AND event_type = 'lane_state' AND mode IS NOT NULL
GROUP BY time, lane_key
ORDER BY time, lane_key""",
        (("time", "time"), ("lane_key", "string"), ("degraded", "number")),
        "Routing mode changes of the dedicated lanes (the shared lane has no mode).",
        steps=True,
    ),
    Panel(
        "fallback_reasons", "Fallback activations by reason", "Lanes", "timeseries",
        """SELECT $__timeInterval(occurred_at) AS time, ifNull(fallback_reason, 'unknown') AS fallback_reason,
    count() AS activations
FROM ${database}.lane_events FINAL
WHERE $__timeFilter(occurred_at) AND event_type = 'lane_state' AND mode = 'degraded_shared'
GROUP BY time, fallback_reason
ORDER BY time, fallback_reason""",
        (("time", "time"), ("fallback_reason", "string"), ("activations", "number")),
        "Switches to degraded_shared, by fallback_reason (capacity, quota, manual).",
    ),
    Panel(
        "lane_current", "Lanes now", "Lanes", "table",
        """SELECT lane_key,
    argMaxIf(mode, (kafka_partition, kafka_offset), event_type = 'lane_state' AND mode IS NOT NULL) AS mode,
    argMaxIf(availability, (kafka_partition, kafka_offset), availability IS NOT NULL) AS availability,
    argMaxIf(fallback_reason, (kafka_partition, kafka_offset), event_type = 'lane_state') AS fallback_reason,
    maxIf(occurred_at, event_type = 'heartbeat') AS last_heartbeat,
    argMaxIf(load1, (kafka_partition, kafka_offset), event_type = 'heartbeat') AS load1,
    argMaxIf(host_artifact_write_ms, (kafka_partition, kafka_offset), event_type = 'heartbeat') AS artifact_write_ms
FROM ${database}.lane_events
WHERE $__timeFilter(occurred_at)
GROUP BY lane_key
ORDER BY lane_key""",
        (("lane_key", "string"), ("mode", "string"), ("availability", "string"),
         ("fallback_reason", "string"), ("last_heartbeat", "time"), ("load1", "number"),
         ("artifact_write_ms", "number")),
        "Latest state per lane in the time range.",
    ),
    Panel(
        "host_pressure", f"Worker load per core (limit {CPU_LOAD_PER_CORE_LIMIT:g})", "Lanes", "timeseries",
        f"""SELECT $__timeInterval(occurred_at) AS time, lane_key,
    max(load1 / cpu_cores) AS load_per_core, {CPU_LOAD_PER_CORE_LIMIT} AS limit_per_core
FROM ${{database}}.lane_events
WHERE $__timeFilter(occurred_at) AND event_type = 'heartbeat' AND load1 IS NOT NULL
GROUP BY time, lane_key
ORDER BY time, lane_key""",
        (("time", "time"), ("lane_key", "string"), ("load_per_core", "number"), ("limit_per_core", "number")),
        f"Heartbeat load1 / cpu_cores; above {CPU_LOAD_PER_CORE_LIMIT:g} for {CPU_STARVATION_S} s admission "
        "withdraws (cpu_starvation).",
        limits=("limit_per_core",),
    ),
    Panel(
        "artifact_write", f"Artifact write latency (limit {IO_WRITE_MS_LIMIT} ms)", "Lanes", "timeseries",
        f"""SELECT $__timeInterval(occurred_at) AS time, lane_key,
    max(host_artifact_write_ms) AS artifact_write_ms, {IO_WRITE_MS_LIMIT} AS limit_ms
FROM ${{database}}.lane_events
WHERE $__timeFilter(occurred_at) AND event_type = 'heartbeat' AND host_artifact_write_ms IS NOT NULL
GROUP BY time, lane_key
ORDER BY time, lane_key""",
        (("time", "time"), ("lane_key", "string"), ("artifact_write_ms", "number"), ("limit_ms", "number")),
        f"Heartbeat artifact write latency; above {IO_WRITE_MS_LIMIT} ms admission withdraws (io_saturation).",
        unit="ms", limits=("limit_ms",),
    ),
    # --- admission -----------------------------------------------------------------------------
    Panel(
        "decisions", "Admission decisions by outcome and code", "Admission", "timeseries",
        """SELECT $__timeInterval(occurred_at) AS time,
    if(outcome = 'accepted', 'accepted', concat('rejected: ', ifNull(code, 'unknown'))) AS decision,
    count() AS decisions
FROM ${database}.admission_decisions FINAL
WHERE $__timeFilter(occurred_at)
GROUP BY time, decision
ORDER BY time, decision""",
        (("time", "time"), ("decision", "string"), ("decisions", "number")),
        "Every decision of the admission agent, accepted or rejected with its problem code.",
    ),
    Panel(
        "decision_codes", "Decisions by outcome, code and status", "Admission", "bar",
        """SELECT concat(outcome, if(code IS NULL, '', concat(' ', code, ' (', ifNull(toString(status), '?'), ')'))) AS decision,
    count() AS decisions
FROM ${database}.admission_decisions FINAL
WHERE $__timeFilter(occurred_at)
GROUP BY decision
ORDER BY decisions DESC""",
        (("decision", "string"), ("decisions", "number")),
        "Totals in the time range.",
    ),
    # Levels bucketed by Grafana's millisecond interval: a burst fills the queue within a second,
    # and a short range (a demo run) then shows the climb to the limit, not one point at it.
    Panel(
        "queue_depth", f"Queue depth vs the limit of {MAX_DEPTH}", "Admission", "timeseries",
        f"""SELECT $__timeInterval_ms(occurred_at) AS time, ifNull(lane, 'none') AS lane,
    max(queue_depth) AS peak_queue_depth, {MAX_DEPTH} AS max_depth
FROM ${{database}}.admission_decisions
WHERE $__timeFilter(occurred_at) AND queue_depth IS NOT NULL
GROUP BY time, lane
ORDER BY time, lane""",
        (("time", "time"), ("lane", "string"), ("peak_queue_depth", "number"), ("max_depth", "number")),
        f"Depth seen by admission per lane (DegradedQueuePolicy.max_depth = {MAX_DEPTH}).",
        limits=("max_depth",),
    ),
    Panel(
        "expected_wait", f"Expected wait vs {MAX_WAIT_S} s", "Admission", "timeseries",
        f"""SELECT $__timeInterval_ms(occurred_at) AS time, ifNull(lane, 'none') AS lane,
    max(estimated_wait_seconds) AS peak_wait_seconds, {MAX_WAIT_S} AS max_wait_seconds
FROM ${{database}}.admission_decisions
WHERE $__timeFilter(occurred_at) AND estimated_wait_seconds IS NOT NULL
GROUP BY time, lane
ORDER BY time, lane""",
        (("time", "time"), ("lane", "string"), ("peak_wait_seconds", "number"),
         ("max_wait_seconds", "number")),
        f"Expected wait per lane (DegradedQueuePolicy.max_wait_seconds = {MAX_WAIT_S}).",
        unit="s", limits=("max_wait_seconds",),
    ),
    Panel(
        "refusals", "Refused tasks and why", "Admission", "table",
        """SELECT occurred_at AS time, ifNull(task_id, '(unparseable)') AS task_id, code, status,
    lane, lane_mode, queue_depth, estimated_wait_seconds, reason, detail
FROM ${database}.admission_decisions FINAL
WHERE $__timeFilter(occurred_at) AND outcome = 'rejected'
ORDER BY occurred_at DESC
LIMIT 200""",
        (("time", "time"), ("task_id", "string"), ("code", "string"), ("status", "number"),
         ("lane", "string"), ("lane_mode", "string"), ("queue_depth", "number"),
         ("estimated_wait_seconds", "number"), ("reason", "string"), ("detail", "string")),
        "The latest rejections with their problem fields.",
    ),
    # --- memory --------------------------------------------------------------------------------
    Panel(
        "vram_after_generation", "Allocated GiB after generation, per lane/model", "Memory", "timeseries",
        """SELECT $__timeInterval(occurred_at) AS time,
    concat(ifNull(lane, '?'), '/', ifNull(model, '?')) AS lane_model, avg(value) AS allocated_gib
FROM ${database}.memory_events FINAL
WHERE $__timeFilter(occurred_at) AND event_type = 'memory_post_generation' AND value IS NOT NULL
GROUP BY time, lane_model
ORDER BY time, lane_model""",
        (("time", "time"), ("lane_model", "string"), ("allocated_gib", "number")),
        "memory_post_generation values (GiB held right after a job).",
        unit="gbytes",
    ),
    Panel(
        "vram_after_cleanup", "Allocated GiB after cleanup, per lane/model", "Memory", "timeseries",
        """SELECT $__timeInterval(occurred_at) AS time,
    concat(ifNull(lane, '?'), '/', ifNull(model, '?')) AS lane_model, avg(value) AS allocated_gib
FROM ${database}.memory_events FINAL
WHERE $__timeFilter(occurred_at) AND event_type = 'memory_cleanup' AND value IS NOT NULL
GROUP BY time, lane_model
ORDER BY time, lane_model""",
        (("time", "time"), ("lane_model", "string"), ("allocated_gib", "number")),
        "memory_cleanup values (GiB still held after gc/empty_cache).",
        unit="gbytes",
    ),
    Panel(
        "memory_event_counts", "Memory and queue diagnostic events", "Memory", "bar",
        """SELECT concat(event_type, ' / ', lane_mode) AS event, count() AS events
FROM ${database}.memory_events FINAL
WHERE $__timeFilter(occurred_at)
GROUP BY event
ORDER BY events DESC""",
        (("event", "string"), ("events", "number")),
        "fallback_activated, queue_overloaded, queue_timeout and memory events by lane mode.",
    ),
    Panel(
        "lane_busy_fraction", "GPU busy fraction per lane and hour", "Lanes", "timeseries",
        """SELECT t.time AS time, t.lane AS lane, t.pipeline_s / (3600 * greatest(ifNull(w.workers, 0), 1)) AS busy_fraction
FROM (
    SELECT toStartOfHour(occurred_at) AS time, assumeNotNull(lane) AS lane, sum(pipeline_seconds) AS pipeline_s
    FROM ${database}.task_events FINAL
    WHERE $__timeFilter(occurred_at) AND pipeline_seconds IS NOT NULL AND lane IS NOT NULL
    GROUP BY time, lane
) AS t
LEFT JOIN (
    SELECT toStartOfHour(occurred_at) AS time, toString(lane_key) AS lane, uniqExact(worker_id) AS workers
    FROM ${database}.lane_events
    WHERE $__timeFilter(occurred_at) AND event_type = 'heartbeat'
    GROUP BY time, lane
) AS w ON t.time = w.time AND t.lane = w.lane
ORDER BY time, lane""",
        (("time", "time"), ("lane", "string"), ("busy_fraction", "number")),
        "Pipeline seconds of the jobs that ended in the hour / (3600 s x workers heartbeating in it): "
        "the share of paid GPU time spent generating. The current hour is partial.",
        unit="percentunit",
    ),
    # --- tasks ---------------------------------------------------------------------------------
    Panel(
        "task_status", "Tasks by current status", "Tasks", "bar",
        """SELECT status, count() AS tasks
FROM ${database}.tasks_current
WHERE $__timeFilter(updated_at)
GROUP BY status
ORDER BY status""",
        (("status", "string"), ("tasks", "number")),
        "Each task's latest status (tasks_current view).",
    ),
    Panel(
        "task_latency", "Latency from request to done (p50, p95)", "Tasks", "timeseries",
        """SELECT $__timeInterval(updated_at) AS time, model,
    quantile(0.5)(dateDiff('millisecond', created_at, updated_at) / 1000) AS p50_seconds,
    quantile(0.95)(dateDiff('millisecond', created_at, updated_at) / 1000) AS p95_seconds
FROM ${database}.tasks_current
WHERE $__timeFilter(updated_at) AND status = 'done'
GROUP BY time, model
ORDER BY time, model""",
        (("time", "time"), ("model", "string"), ("p50_seconds", "number"), ("p95_seconds", "number")),
        "created_at (admitted) to the done event's updated_at.",
        unit="s",
    ),
    Panel(
        "task_failures", "Failed tasks by error code", "Tasks", "bar",
        """SELECT concat(ifNull(error_code, 'unknown'), ' / ', ifNull(lane, '?')) AS failure, count() AS tasks
FROM ${database}.tasks_current
WHERE $__timeFilter(updated_at) AND status = 'failed'
GROUP BY failure
ORDER BY tasks DESC""",
        (("failure", "string"), ("tasks", "number")),
        "gpu_oom, queue_overloaded (queue timeout), pipeline errors ...",
    ),
)


def panel(key: str) -> Panel:
    for p in PANELS:
        if p.key == key:
            return p
    raise KeyError(key)
