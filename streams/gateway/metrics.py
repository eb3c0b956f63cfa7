"""The gateway's Prometheus metrics, in a registry of its own so several apps can share a process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

from schemas.service_metrics import register_runtime_metrics

# The `_created` series double every counter and histogram and no dashboard reads them.
disable_created_metrics()

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class GatewayMetrics:
    """`route` labels are route templates (`/v1/tasks/{task_id}`), never raw paths."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        register_runtime_metrics(self.registry, "gateway")
        r = self.registry
        self.requests = Counter(
            "framegate_gateway_http_requests_total",
            "HTTP requests answered, by route template, method and status code.",
            ["route", "method", "status"],
            registry=r,
        )
        self.request_duration = Histogram(
            "framegate_gateway_http_request_duration_seconds",
            "Time to answer an HTTP request.",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.auth_failures = Counter(
            "framegate_gateway_auth_failures_total",
            "Requests refused by authentication (missing/invalid key) or authorisation (scope).",
            ["reason"],
            registry=r,
        )
        self.published = Counter(
            "framegate_gateway_requests_published_total",
            "Generation requests written to tasks.requested.",
            registry=r,
        )
        self.broker_unavailable = Counter(
            "framegate_gateway_broker_unavailable_total",
            "Requests answered 503 broker_unavailable, by stage: `feed` (decision feed down, "
            "nothing published) or `publish` (the broker did not take the request in time).",
            ["stage"],
            registry=r,
        )
        self.decisions = Counter(
            "framegate_gateway_decisions_total",
            "Admission decisions returned to HTTP clients, by outcome and code.",
            ["outcome", "code"],
            registry=r,
        )
        self.decision_timeouts = Counter(
            "framegate_gateway_decision_timeouts_total",
            "Requests whose decision did not arrive within the bounded wait.",
            registry=r,
        )
        self.decision_wait = Histogram(
            "framegate_gateway_decision_wait_seconds",
            "Time from publishing a request to receiving its decision.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.inflight = Gauge(
            "framegate_gateway_inflight_requests",
            "Requests currently waiting for their admission decision.",
            registry=r,
        )
        self.broker_up = Gauge(
            "framegate_gateway_broker_up",
            "1 while the gateway's producer and decision feed are connected, else 0.",
            registry=r,
        )
        self.tracked_tasks = Gauge(
            "framegate_gateway_tracked_tasks",
            "Tasks whose status the gateway holds for GET /v1/tasks/{task_id}.",
            registry=r,
        )
        self.feed_records = Counter(
            "framegate_gateway_feed_records_total",
            "Records read from the decision and task-event topics, by topic kind.",
            ["kind"],
            registry=r,
        )
