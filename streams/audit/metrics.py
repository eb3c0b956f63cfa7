"""Prometheus metrics of the audit sink (one registry per sink, so tests can run several)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

from schemas.service_metrics import register_runtime_metrics

# The `_created` series double every counter and histogram and no dashboard reads them.
disable_created_metrics()

_LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, float("inf"))


@dataclass
class SinkMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        register_runtime_metrics(r, "audit_sink")
        self.rows_inserted = Counter(
            "framegate_audit_rows_inserted",
            "Rows ClickHouse accepted, per table.",
            ["table"],
            registry=r,
        )
        self.rejected_records = Counter(
            "framegate_audit_rejected_records",
            "Records stored as rejects, per kind.",
            ["kind"],
            registry=r,
        )
        self.insert_failures = Counter(
            "framegate_audit_insert_failures",
            "Refused inserts (retried), per table.",
            ["table"],
            registry=r,
        )
        self.commits = Counter(
            "framegate_audit_commits", "Offset commits after a flush.", registry=r
        )
        self.commit_failures = Counter(
            "framegate_audit_commit_failures",
            "Offset commits that failed (redelivery collapses).",
            registry=r,
        )
        self.batch_rows = Histogram(
            "framegate_audit_batch_rows",
            "Rows per flushed batch.",
            buckets=(1, 10, 100, 500, 1000, 2000, 5000, 10000, 50000, float("inf")),
            registry=r,
        )
        self.flush_seconds = Histogram(
            "framegate_audit_flush_seconds", "Time to insert one batch (incl. retries).", registry=r
        )
        self.lag_seconds = Histogram(
            "framegate_audit_lag_seconds",
            "Per accepted batch: age of its oldest event (occurred_at) when ClickHouse took it.",
            buckets=_LAG_BUCKETS,
            registry=r,
        )
        self.pending_rows = Gauge(
            "framegate_audit_pending_rows", "Rows buffered, not yet inserted.", registry=r
        )
        self.clickhouse_up = Gauge(
            "framegate_audit_clickhouse_up",
            "1 when the last insert succeeded, 0 while refused.",
            registry=r,
        )
