"""Prometheus metrics of the admission agent, on its own registry (served at `/metrics`)."""

from __future__ import annotations

from datetime import datetime

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from schemas import AdmissionDecision, DecisionOutcome, LaneMode, RejectionCode, RouteLane
from schemas.service_metrics import register_runtime_metrics
from streams.admission.core.withdrawal import live_workers
from streams.admission.state import AdmissionState, FoldCounters

# The `_created` series double every counter and histogram and no dashboard reads them.
disable_created_metrics()

LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
)


class AdmissionMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        register_runtime_metrics(self.registry, "admission")
        self.decisions = Counter(
            "framegate_admission_decisions",
            "Admission decisions by outcome, code and lane.",
            ["outcome", "code", "lane"],
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "framegate_admission_queue_depth",
            "Queued (accepted, not yet started) items per lane.",
            ["lane"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "framegate_admission_decision_latency_seconds",
            "Time to parse, decide and hand one request's outputs to the producer.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.request_age = Histogram(
            "framegate_admission_request_age_seconds",
            "Request record timestamp to decision (includes broker and fetch delay).",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.lane_mode = Gauge(
            "framegate_admission_lane_mode",
            "1 for the lane's current routing mode, 0 otherwise.",
            ["lane", "mode"],
            registry=self.registry,
        )
        self.live_workers = Gauge(
            "framegate_admission_live_workers",
            "Workers with a fresh heartbeat, per lane.",
            ["lane"],
            registry=self.registry,
        )
        self.invalid_events = Counter(
            "framegate_admission_invalid_events",
            "Log records admission ignored: unparseable, or a task/lane event whose transition the "
            "seed's tables refuse for the current state.",
            ["topic", "reason"],
            registry=self.registry,
        )
        self.role = Gauge(
            "framegate_admission_role",
            "1 for this process's current role: active (owns tasks.requested) or standby.",
            ["role"],
            registry=self.registry,
        )
        self.startup_seconds = Gauge(
            "framegate_admission_startup_seconds",
            "Process start to ready (snapshot loaded and the logs folded to their end).",
            registry=self.registry,
        )
        self.snapshots = Counter(
            "framegate_admission_snapshots",
            "State snapshots written to the snapshot topic.",
            registry=self.registry,
        )
        self.snapshot_bytes = Gauge(
            "framegate_admission_snapshot_bytes",
            "Compressed size of the last snapshot written.",
            registry=self.registry,
        )
        self.snapshot_seconds = Histogram(
            "framegate_admission_snapshot_seconds",
            "Time to encode and write one snapshot.",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.decided_tasks = Gauge(
            "framegate_admission_decided_tasks",
            "Decided task ids remembered within the dedup window.",
            registry=self.registry,
        )
        #: Fold counters already exported, so scrapes add only what is new.
        self.exported = FoldCounters()
        self._decided: dict[tuple[DecisionOutcome, RejectionCode | None, RouteLane | None], Counter] = {}
        self.ready = Gauge(
            "framegate_admission_ready",
            "1 once the start-up rebuild finished.",
            registry=self.registry,
        )

    def decided(self, decision: AdmissionDecision) -> None:
        key = (decision.outcome, decision.code, decision.lane)
        counter = self._decided.get(key)
        if counter is None:  # a label lookup per decision costs more than the count itself
            counter = self._decided[key] = self.decisions.labels(
                outcome=decision.outcome.value,
                code=decision.code.value if decision.code else "",
                lane=decision.lane.value if decision.lane else "",
            )
        counter.inc()

    def observe_state(self, state: AdmissionState, now: datetime) -> None:
        self.decided_tasks.set(len(state.tasks))
        counted = state.counters
        for field, topic in (("illegal_task_transitions", "events.task"),
                             ("illegal_lane_transitions", "events.lane"),
                             ("conflicting_decisions", "tasks.rejected")):
            new = getattr(counted, field) - getattr(self.exported, field)
            if new > 0:
                self.invalid_events.labels(topic=topic, reason="illegal_transition").inc(new)
                setattr(self.exported, field, getattr(counted, field))
        for lane in RouteLane:
            self.queue_depth.labels(lane=lane.value).set(state.queue(lane).depth)
            self.live_workers.labels(lane=lane.value).set(
                len(live_workers(state.lane(lane), now.timestamp(), state.config.heartbeat_stale_s))
            )
            if lane is RouteLane.shared:
                continue
            mode = state.lane(lane).mode
            for candidate in LaneMode:
                self.lane_mode.labels(lane=lane.value, mode=candidate.value).set(
                    int(candidate is mode)
                )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
