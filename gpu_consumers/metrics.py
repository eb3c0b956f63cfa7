"""Prometheus metrics of one worker, served on 127.0.0.1 (settings) when a port is configured."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    start_http_server,
)

from schemas.enums import RouteLane, TaskStatus
from schemas.service_metrics import register_runtime_metrics

if TYPE_CHECKING:
    from gpu_consumers.job_runner import JobReport
    from gpu_consumers.memory_guard import MemorySnapshot

# The `_created` series double every counter and histogram and no dashboard reads them.
disable_created_metrics()


class WorkerMetrics:
    def __init__(self, lane: RouteLane, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.lane = lane.value
        register_runtime_metrics(self.registry, "lane")
        self.jobs = Counter(
            "framegate_lane_jobs",
            "Jobs finished, by terminal status and error code.",
            ["lane", "status", "code"],
            registry=self.registry,
        )
        self.job_seconds = Histogram(
            "framegate_lane_job_seconds",
            "Service time of a job.",
            ["lane"],
            registry=self.registry,
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
        )
        self.artifact_write_seconds = Gauge(
            "framegate_lane_artifact_write_seconds",
            "Latency of the last artifact write.",
            ["lane"],
            registry=self.registry,
        )
        self.memory_bytes = Gauge(
            "framegate_lane_memory_bytes",
            "Memory after the last cleanup: `kind` allocated (CUDA) or rss (CPU process).",
            ["lane", "kind"],
            registry=self.registry,
        )
        self.oom_retries = Counter(
            "framegate_lane_oom_retries",
            "Jobs retried one step lower after a CUDA OOM.",
            ["lane"],
            registry=self.registry,
        )
        self.ledger_invalid_events = Counter(
            "framegate_lane_ledger_invalid_events",
            "events.task records the task ledger ignored: illegal by the task transitions.",
            ["lane"],
            registry=self.registry,
        )
        self.busy_seconds = Counter(
            "framegate_lane_busy_seconds",
            "Seconds spent inside the model pipeline (GPU busy time); rate() over wall time is the "
            "busy fraction.",
            ["lane"],
            registry=self.registry,
        )
        self.model_changes = Counter(
            "framegate_lane_model_changes",
            "Model loads and evictions.",
            ["lane", "kind"],
            registry=self.registry,
        )
        self.busy = Gauge(
            "framegate_lane_busy", "1 while a job runs.", ["lane"], registry=self.registry
        )

    def observe_job(self, report: JobReport, memory: MemorySnapshot) -> None:
        """A finished job: its outcome, service time, write latency, OOM retries, memory after."""
        event, lane = report.terminal, self.lane
        code = event.error_code.value if event.error_code else ""
        self.jobs.labels(lane, event.task.status.value, code).inc()
        if event.duration_seconds is not None and event.task.status is TaskStatus.done:
            self.job_seconds.labels(lane).observe(event.duration_seconds)
        if report.artifact is not None:
            self.artifact_write_seconds.labels(lane).set(report.artifact.write_ms / 1000.0)
        if report.oom_retries:
            self.oom_retries.labels(lane).inc(report.oom_retries)
        value, unit = memory.headline()
        self.memory_bytes.labels(lane, unit.removesuffix("_gib")).set(value * 2**30)

    def serve(self, host: str, port: int) -> None:
        start_http_server(port, addr=host, registry=self.registry)
