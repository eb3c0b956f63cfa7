"""The Faust admission app: folds `events.lane` / `events.task` into state and decides each request.

Three agents share one event loop, hence one in-memory `AdmissionState`; each handler updates the
state synchronously before its first `await`, so decisions are serialised. `tasks.requested` has
ONE partition (`Topics.partitions`), so requests are decided in log order and a replay of the
same log decides the same way; the decision's `occurred_at` and every time rule use the request
record's log timestamp, never the wall clock.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, cast

import faust
from aiokafka import AIOKafkaProducer
from faust.web import Request, Response, View
from pydantic import ValidationError

from schemas import (
    AdmissionDecision,
    DecisionOutcome,
    LaneEvent,
    LaneMode,
    MemoryDiagnosticEvent,
    MemoryEventType,
    ModelName,
    RejectionCode,
    SourceRecord,
    TaskEvent,
)
from schemas.settings import Settings
from schemas.wire import PayloadTooLarge, decode
from streams.admission.decide import Decision, apply, decide, event_id
from streams.admission.faust_transport import ProfiledApp, app_options
from streams.admission.metrics import AdmissionMetrics
from streams.admission.output_batches import OutputBatches
from streams.admission.parsing import Rejected, parse
from streams.admission.rebuild import rebuild
from streams.admission.state import (
    AdmissionConfig,
    AdmissionState,
    LaneTransition,
    fold_lane_event,
    fold_task_event,
)

log = logging.getLogger(__name__)

#: Most requests decided per batch, and how long a batch waits to fill (bounds added latency).
BATCH_MAX = 1000
BATCH_WITHIN_S = 0.005
#: The lane/task-event agents' outputs (fallback_activated) are flushed on this timer.
FLUSH_INTERVAL_S = 0.1


def config_from_settings(settings: Settings) -> AdmissionConfig:
    return AdmissionConfig(
        heartbeat_stale_s=settings.admission_heartbeat_stale_s,
        critical_producers=frozenset(settings.admission_critical_producers),
        cold_start_s=settings.admission_cold_start_s,
        default_service_s=settings.admission_default_service_s,
        service_window=settings.admission_service_window,
        retry_after_s=settings.admission_retry_after_s,
    )


def record_time(timestamp: float | None) -> datetime:
    """The log time of a record (Faust gives seconds); the broker always sets one."""
    return datetime.fromtimestamp(timestamp if timestamp else 0.0, UTC)


class AdmissionService:
    """State, metrics and the publishing side; the Faust agents call into it."""

    def __init__(self, app: faust.App, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.topics = settings.topics
        self.state = AdmissionState(config=config_from_settings(settings))
        self.metrics = AdmissionMetrics()
        self.ready = asyncio.Event()
        #: Outputs go through a plain aiokafka producer: Faust's send path measured ~1.3 ms per
        #: record on tansu (see bench/admission_throughput.py); this one batches freely.
        self.producer: AIOKafkaProducer | None = None
        self.outputs: OutputBatches | None = None
        raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes,
                               "key_serializer": "raw", "value_serializer": "raw"}
        parts = self.topics.partitions()
        self.topic = {name: app.topic(name, partitions=n, **raw) for name, n in parts.items()}

    # --- start-up ------------------------------------------------------------------------
    async def start(self) -> None:
        started = time.monotonic()
        self.producer = AIOKafkaProducer(**self.settings.broker.producer_kwargs(
            self.settings.kafka_bootstrap, max_batch_size=1_048_576))
        await self.producer.start()
        self.outputs = OutputBatches(self.producer)
        requested = await self.producer.partitions_for(self.topics.tasks_requested)
        if len(requested) != 1:
            log.warning("%s has %d partitions: decisions across them are not totally ordered, so a "
                        "replay may decide differently; recreate it with 1 partition",
                        self.topics.tasks_requested, len(requested))
        read = await rebuild(self.state, self.settings.kafka_bootstrap, self.topics,
                             self.settings.broker, self.settings.admission_rebuild_timeout_s)
        self.metrics.observe_state(self.state, datetime.now(UTC))
        self.metrics.ready.set(1)
        self.ready.set()
        log.info("admission state rebuilt from %d records in %.2fs", read, time.monotonic() - started)

    # --- inputs --------------------------------------------------------------------------
    async def on_request(self, payload: bytes | None, partition: int, offset: int, timestamp: float | None) -> None:
        if offset <= self.state.decided_upto.get(partition, -1):
            return  # decided before a restart; redelivered because its offset was not committed
        started = time.perf_counter()
        now = record_time(timestamp)
        source = SourceRecord(topic=self.topics.tasks_requested, partition=partition, offset=offset)
        outcome = self.decide_record(payload, source, now)
        apply(self.state, outcome)
        await self.publish(outcome)
        self.metrics.latency.observe(time.perf_counter() - started)
        self.metrics.request_age.observe(max(0.0, time.time() - now.timestamp()))
        for decision in outcome.decisions:
            self.metrics.decided(decision)
        # Queue depth / lane gauges are refreshed on every scrape and lane event, not per
        # request: at saturation the per-request refresh cost ~7% of the decision path.

    def decide_record(self, payload: bytes | None, source: SourceRecord, now: datetime) -> Decision:
        try:
            parsed = parse(payload, source, now)
            if isinstance(parsed, Rejected):
                events = (parsed.task_event,) if parsed.task_event else ()
                return Decision(decision=parsed.decision, task_events=events)
            return decide(self.state, parsed, now, source)
        except Exception as exc:  # a bug must cost one rejection, never the agent
            log.exception("admission failed on %s", source)
            return Decision(decision=AdmissionDecision(
                event_id=event_id(f"p{source.partition}o{source.offset}", "decision"),
                occurred_at=now,
                outcome=DecisionOutcome.rejected,
                task_id=None,
                status=422,
                code=RejectionCode.malformed_request,
                title="Malformed request",
                detail=f"the request could not be admitted ({type(exc).__name__})",
                source=source,
            ))

    async def on_lane_event(self, payload: bytes | None, offset: int) -> None:
        topic = self.topics.events_lane
        if payload is None or not self.state.claim_position(topic, offset):
            return
        try:
            event = decode(LaneEvent, payload)
        except (ValidationError, PayloadTooLarge):
            self.metrics.invalid_events.labels(topic="events.lane").inc()
            return
        transition = fold_lane_event(self.state, event)
        if transition is not None and transition.new_mode is LaneMode.degraded_shared:
            await self.send(topic=self.topics.events_memory, key=transition.lane.value,
                            value=fallback_event(transition, offset).to_wire())
        self.metrics.observe_state(self.state, event.occurred_at)

    async def on_task_event(self, payload: bytes | None, offset: int) -> None:
        topic = self.topics.events_task
        if payload is None or not self.state.claim_position(topic, offset):
            return
        try:
            event = decode(TaskEvent, payload)
        except (ValidationError, PayloadTooLarge):
            self.metrics.invalid_events.labels(topic="events.task").inc()
            return
        fold_task_event(self.state, event)
        self.metrics.observe_state(self.state, event.occurred_at)

    # --- outputs -------------------------------------------------------------------------
    async def send(self, topic: str, key: str | None, value: bytes) -> None:
        # Enqueue only; delivery is awaited in `flush` (batches fill while we decide on).
        assert self.outputs is not None
        await self.outputs.add(topic, key.encode() if key is not None else None, value)

    async def flush(self) -> None:
        """Wait for every output handed over so far to be acknowledged (called before Faust acks)."""
        if self.outputs is not None:
            await self.outputs.flush()

    async def publish(self, outcome: Decision) -> None:
        t = self.topics
        for decision in outcome.decisions:
            wire = decision.to_wire()
            if decision.outcome is DecisionOutcome.accepted:
                assert decision.lane is not None
                if not decision.replayed:
                    await self.send(t.lane(decision.lane), decision.task_id, wire)
                await self.send(t.tasks_accepted, decision.task_id, wire)
            else:
                await self.send(t.tasks_rejected, decision.task_id, wire)
        for event in outcome.task_events:
            await self.send(t.events_task, event.task_id, event.to_wire())
        for memory in outcome.memory_events:
            await self.send(t.events_memory, memory.lane.value if memory.lane else None, memory.to_wire())


def fallback_event(transition: LaneTransition, offset: int) -> MemoryDiagnosticEvent:
    assert transition.reason is not None  # the LaneEvent validator requires it for degraded_shared
    return MemoryDiagnosticEvent(
        event_id=event_id(f"lane{offset}", "fallback_activated"),
        occurred_at=transition.at,
        event_type=MemoryEventType.fallback_activated,
        model=ModelName(transition.lane.value),
        lane_mode=transition.new_mode,
        lane=transition.lane,
        reason=transition.reason,
        value="shared",
        value_unit="routed_to_lane",
    )


def build_app(settings: Settings) -> tuple[faust.App, AdmissionService]:
    profile = settings.broker
    data_dir = settings.resolved_data_dir / "admission"
    data_dir.mkdir(parents=True, exist_ok=True)
    app = ProfiledApp(
        settings.resolved_admission_app_id,
        broker_profile=profile,
        broker=[f"kafka://{hp.strip()}" for hp in settings.kafka_bootstrap.split(",")],
        datadir=str(data_dir),
        store="memory://",
        web_enabled=True,
        web_bind=settings.bind_host,
        web_host=settings.bind_host,
        web_port=settings.admission_web_port,
        autodiscover=False,
        **app_options(profile),
    )
    service = AdmissionService(app, settings)
    t = settings.topics

    @app.agent(service.topic[t.tasks_requested], concurrency=1)
    async def admit(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        await service.ready.wait()
        # Requests are taken in batches: Faust's per-event stream step costs more than a decision
        # (bench/admission_throughput.py). `take_events` acks a batch only when the loop comes
        # back for the next one, i.e. after `flush` saw every output of the batch acknowledged.
        batches = cast(faust.Stream[bytes], stream).take_events(BATCH_MAX, within=BATCH_WITHIN_S)
        async for events in batches:
            for event in events:
                msg = event.message
                await service.on_request(msg.value, msg.partition, msg.offset, msg.timestamp)
            await service.flush()
            yield None

    @app.agent(service.topic[t.events_lane], concurrency=1)
    async def lane_events(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        await service.ready.wait()
        async for event in stream.events():
            await service.on_lane_event(event.message.value, event.message.offset)
            yield None

    @app.agent(service.topic[t.events_task], concurrency=1)
    async def task_events(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        await service.ready.wait()
        async for event in stream.events():
            await service.on_task_event(event.message.value, event.message.offset)
            yield None

    @app.page("/metrics")
    class Metrics(View):
        async def get(self, request: Request) -> Response:
            service.metrics.observe_state(service.state, datetime.now(UTC))
            return self.bytes(service.metrics.exposition(),
                              content_type="text/plain; version=0.0.4")

    @app.task
    async def startup() -> None:
        await service.start()

    @app.timer(FLUSH_INTERVAL_S)
    async def flush_outputs() -> None:
        # Bounds the window in which Faust could commit a request whose outputs are unacked.
        await service.flush()

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def stop_producer(sender: Any, *args: Any, **kwargs: Any) -> None:
        if service.producer is not None:
            await service.flush()
            await service.producer.stop()

    return app, service


def run(settings: Settings, loglevel: str = "info") -> None:
    """Run the admission worker until SIGINT/SIGTERM (Faust's worker handles both)."""
    app, _ = build_app(settings)
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False)
    # Faust's terminal spinner (on for loglevel >= warning) sets the ROOT logger to DEBUG so it
    # can spin on every record: each aiokafka debug call then builds a LogRecord (~10% of the
    # agent's CPU at saturation). Without it the root logger keeps `loglevel`.
    worker.spinner = None
    worker.execute_from_commandline()
