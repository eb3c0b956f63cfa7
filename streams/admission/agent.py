"""The Faust admission app: folds `events.lane` / `events.task` into state and decides each request.

The request loop (fed by `intake.RequestIntake`, a consumer group on `tasks.requested`), the log
follower and the timers share one event loop, hence one in-memory `AdmissionState`; each updates
the state synchronously before its first `await`, so decisions are serialised. `tasks.requested` has
ONE partition (`Topics.partitions`), so requests are decided in log order and a replay of the
same log decides the same way; the decision's `occurred_at` and every time rule use the request
record's log timestamp, never the wall clock.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from datetime import UTC, datetime
from typing import Any, Literal

import faust
import psutil
from aiokafka import AIOKafkaProducer, TopicPartition
from faust.web import Request, Response, View

from schemas import (
    DecisionOutcome,
    LaneMode,
    MemoryDiagnosticEvent,
    MemoryEventType,
    ModelName,
    RouteLane,
    SourceRecord,
)
from schemas.settings import Settings
from streams.admission.decide import Decision, apply
from streams.admission.events import event_id
from streams.admission.faust_security import faust_security_options
from streams.admission.faust_transport import AdmissionApp, app_options, run_worker
from streams.admission.follower import LogFollower, start_state
from streams.admission.intake import RequestIntake
from streams.admission.metrics import AdmissionMetrics
from streams.admission.output_batches import OutputBatches
from streams.admission.record import decide_record
from streams.admission.render import utc
from streams.admission.snapshot import encode_snapshot
from streams.admission.snapshot_store import SnapshotHead, write_snapshot
from streams.admission.state import AdmissionState, LaneTransition, config_from_settings

log = logging.getLogger(__name__)

#: One record to publish: topic, key, value.
Output = tuple[str, bytes | None, bytes]

Role = Literal["starting", "standby", "active"]

#: Most requests decided per batch (a batch is what one fetch brought).
BATCH_MAX = 1000
#: Bytes per fetch of `tasks.requested`: room for a full batch of requests with their prompts.
FETCH_BYTES = 4 * 1_048_576
#: Outputs sent outside a batch (fallback_activated) are flushed on this timer at the latest.
FLUSH_INTERVAL_S = 0.1
#: Decided requests' offsets are committed on this timer (and on revocation and shutdown).
COMMIT_INTERVAL_S = 1.0
#: Pause between the active agent's polls of the worker and lane events.
FOLLOW_PAUSE_S = 0.01
#: A start-up that folded at least this many log records snapshots right after taking over.
SNAPSHOT_AFTER_RECORDS = 10_000


def process_age_s() -> float:
    """Seconds since this process started.

    psutil's `create_time` adds the boot time, which Linux reports in whole seconds; the start
    tick in /proc and CLOCK_BOOTTIME share the same origin, so their difference is exact.
    """
    try:
        with open("/proc/self/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        started_ticks = int(fields[19])  # field 22 of proc(5), counted after the comm field
        return time.clock_gettime(time.CLOCK_BOOTTIME) - started_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return time.time() - psutil.Process().create_time()


def record_time(timestamp: float | None) -> datetime:
    """The log time of a record, in seconds; the broker always sets one."""
    return datetime.fromtimestamp(timestamp if timestamp else 0.0, UTC)


class AdmissionService:
    """State, metrics, the log follower, the request loop and the publishing side.

    Every admission process follows the logs; the one that owns `tasks.requested` (one
    partition, one consumer group) decides and is `active`, the others are `standby` and take
    over when the owner dies or stops.
    """

    def __init__(self, app: faust.App, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.topics = settings.topics
        self.state = AdmissionState(config=config_from_settings(settings))
        self.metrics = AdmissionMetrics()
        self.ready = asyncio.Event()
        #: Set while this process owns `tasks.requested` and has folded what the logs held when
        #: it took over: the intake may fetch requests before the assignment handler finished.
        self.deciding = asyncio.Event()
        self.role: Role = "starting"
        # Since the process started (imports included), not since this object was made.
        self.process_started = time.monotonic() - process_age_s()
        #: A start that folded many log records writes a snapshot as soon as it is active.
        self.snapshot_due = False
        #: Only a process that decided writes snapshots (a stop may revoke the role first).
        self.was_active = False
        # A plain aiokafka producer: Faust's send path costs more per record, and this one's
        # output batches fill while decisions go on (see `OutputBatches`).
        self.producer: AIOKafkaProducer | None = None
        self.outputs: OutputBatches | None = None
        self.follower = LogFollower(self.state, settings.kafka_bootstrap, self.topics, settings.broker)
        self.following: asyncio.Task[None] | None = None
        self.pending_snapshot: asyncio.Task[SnapshotHead | None] | None = None
        #: Fallback activations folded while not active, per lane: announced on taking over (their
        #: ids derive from the lane event, so one the dead owner already sent collapses in audit).
        self.unannounced: dict[RouteLane, tuple[LaneTransition, int]] = {}
        self.snapshot_head: SnapshotHead | None = None
        self.folds_at_snapshot = -1
        self.folds = 0
        self.intake = RequestIntake(
            settings.broker.consumer_kwargs(settings.kafka_bootstrap, settings.resolved_admission_app_id,
                                            max_poll_records=BATCH_MAX, max_partition_fetch_bytes=FETCH_BYTES),
            self.topics.tasks_requested, settings.broker, BATCH_MAX, self.on_assigned)
        self.admitting: asyncio.Task[None] | None = None

    # --- start-up ------------------------------------------------------------------------
    async def start(self) -> None:
        self.producer = AIOKafkaProducer(**self.settings.broker.producer_kwargs(
            self.settings.kafka_bootstrap, max_batch_size=1_048_576))
        await self.producer.start()
        self.outputs = OutputBatches(self.producer)
        t = self.topics
        await self.outputs.resolve([*(t.lane(lane) for lane in RouteLane), t.tasks_accepted, t.tasks_rejected,
                                    t.events_task, t.events_memory])
        requested = await self.producer.partitions_for(self.topics.tasks_requested)
        if len(requested) != 1:
            log.warning("%s has %d partitions: decisions across them are not totally ordered, so a "
                        "replay may decide differently; recreate it with 1 partition",
                        self.topics.tasks_requested, len(requested))
        await self.follower.start()
        snapshots = self.topics.admission_snapshots if self.settings.admission_snapshots else None
        self.state, report = await start_state(self.state, self.follower, snapshots,
                                               self.settings.admission_rebuild_timeout_s)
        self.snapshot_head = report.snapshot
        self.snapshot_due = report.tail_records >= SNAPSHOT_AFTER_RECORDS
        self.metrics.observe_state(self.state, datetime.now(UTC))
        self.metrics.startup_seconds.set(time.monotonic() - self.process_started)
        self.metrics.ready.set(1)
        if self.role == "starting":
            self.set_role("standby")
        self.ready.set()
        self.following = asyncio.create_task(self.follow())
        log.info("admission ready as %s in %.2fs: snapshot %s (%d tasks), %d log records folded; "
                 "%d tasks in the dedup window, %d early task events, queued %s, RSS %.0f MiB",
                 self.role, time.monotonic() - self.process_started,
                 report.snapshot.snapshot_id if report.snapshot else "none", report.snapshot_tasks,
                 report.tail_records, len(self.state.tasks), len(self.state.early),
                 {lane.value: queue.depth for lane, queue in self.state.queues.items()},
                 psutil.Process().memory_info().rss / 2**20)

    def set_role(self, role: Role) -> None:
        self.role = role
        for candidate in ("active", "standby"):
            self.metrics.role.labels(role=candidate).set(int(candidate == role))

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        """Own `tasks.requested` -> active, after folding every decision already in the logs."""
        owns = any(tp.topic == self.topics.tasks_requested for tp in assigned)
        if not owns:
            if self.role == "active":
                await self.flush()
            self.follower.set_active(False)
            self.deciding.clear()
            self.set_role("standby" if self.ready.is_set() else "starting")
            return
        await self.ready.wait()
        if self.role != "active":
            # A dead owner's outputs are all in the logs by now: fold them so its decided
            # requests are skipped and the rest decided on the same state.
            read = await self.follower.catch_up(self.settings.admission_rebuild_timeout_s)
            log.info("admission taking over tasks.requested (%d log records folded first)", read)
            self.follower.set_active(True)
            self.set_role("active")
            self.deciding.set()
            self.was_active = True
            for transition, offset in self.unannounced.values():
                await self.announce(transition, offset)
            self.unannounced.clear()
            if self.snapshot_due:
                self.snapshot_due = False
                self.pending_snapshot = asyncio.create_task(self.snapshot(force=True))

    # --- inputs --------------------------------------------------------------------------
    async def follow(self) -> None:
        while True:
            try:
                folded = await self.follower.poll(200)
            except asyncio.CancelledError:
                raise
            except Exception:  # a broker hiccup must not end the follower
                log.exception("log follower poll failed; retrying")
                await asyncio.sleep(1.0)
                continue
            for item in folded:
                self.folds += 1
                if not item.ok:
                    self.metrics.invalid_events.labels(topic=self.short(item.topic),
                                                       reason="unparseable").inc()
                transition = item.transition
                if transition is None:
                    continue
                if transition.new_mode is not LaneMode.degraded_shared:
                    self.unannounced.pop(transition.lane, None)
                elif self.role == "active":
                    await self.announce(transition, item.offset)
                else:
                    self.unannounced[transition.lane] = (transition, item.offset)
            if folded:
                self.metrics.observe_state(self.state, datetime.now(UTC))
            if self.role == "active":
                # A short yield between polls keeps the follow loop from taking the event loop
                # from request batches record by record.
                await asyncio.sleep(FOLLOW_PAUSE_S)

    async def announce(self, transition: LaneTransition, offset: int) -> None:
        await self.send(topic=self.topics.events_memory, key=transition.lane.value,
                        value=fallback_event(transition, offset).to_wire())

    def short(self, topic: str) -> str:
        return topic.removeprefix(self.topics.prefix)

    async def admit(self) -> None:
        """Decide the requests the intake fetched, a batch at a time.

        A batch's offsets are marked decided (committable) once every output of the batch is
        acknowledged (`RequestIntake.schedule`), so a committed request always has its decision
        in the logs. A failure here
        (a decision's own bug costs one rejection in `decide_record`; this is the producer or the
        consumer failing) ends the process as `kill -9` would: the uncommitted requests go to the
        next owner, decided again with the same event ids.
        """
        intake = self.intake
        try:
            await intake.start()
            await self.ready.wait()
            while True:
                generation, batch = await intake.take()
                if not await self._may_decide(generation):
                    continue  # revoked while waiting: the records go to their next owner
                async with intake.busy:
                    if intake.generation != generation:
                        continue
                    add = self.outputs_add
                    for record in batch:
                        for topic, key, value in self.on_request(record.value, record.partition,
                                                                 record.offset, record.timestamp / 1000):
                            add(topic, key, value)
                    # delivered in the background while the next batch is decided
                    await intake.schedule(batch, [self.flush()])
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("admission cannot read requests or publish decisions; exiting so that "
                          "another owner decides")
            logging.shutdown()
            os._exit(1)

    async def _may_decide(self, generation: int) -> bool:
        """Wait for the take-over catch-up (the intake may fetch before it ends); False if the
        partitions were revoked meanwhile (the batch taken is not ours)."""
        if not self.deciding.is_set():
            waits = {asyncio.ensure_future(self.deciding.wait()),
                     asyncio.ensure_future(self.intake.revoked_since(generation))}
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiting in waits:
                    waiting.cancel()
        return self.intake.generation == generation and self.deciding.is_set()

    def on_request(self, payload: bytes | None, partition: int, offset: int,
                   timestamp: float | None) -> list[Output]:
        """The decision step: one request record in, the records to publish out (none when the
        logs already hold its decision). Updates the state before returning."""
        if self.state.is_decided(partition, offset):
            return []  # decided already (by us before a restart, or by a dead owner): in the logs
        started = time.perf_counter()
        now = record_time(timestamp)
        source = SourceRecord(topic=self.topics.tasks_requested, partition=partition, offset=offset)
        outcome = decide_record(self.state, payload, source, now)
        apply(self.state, outcome)
        self.folds += 1
        outputs = self.outputs_of(outcome)
        self.metrics.latency.observe(time.perf_counter() - started)
        self.metrics.request_age.observe(max(0.0, time.time() - now.timestamp()))
        for decision in outcome.decisions:
            self.metrics.decided(decision)
        return outputs

    # --- snapshots -----------------------------------------------------------------------
    async def snapshot(self, force: bool = False) -> SnapshotHead | None:
        """Write the state if it changed since the last snapshot (while or once active)."""
        if not self.settings.admission_snapshots or not self.was_active or self.producer is None:
            return None
        if not force and self.folds == self.folds_at_snapshot:
            return None
        # Between batches only: every decision the snapshot holds is in the logs first.
        async with self.intake.busy:
            await self.flush()
            await self.follower.claim_own_decisions()
            folds = self.folds
            started = time.perf_counter()
            body = encode_snapshot(self.state, dict(self.state.folded_upto))
        self.snapshot_head = await write_snapshot(self.producer, self.topics.admission_snapshots,
                                                  body, self.snapshot_head)
        self.folds_at_snapshot = folds
        self.metrics.snapshots.inc()
        self.metrics.snapshot_bytes.set(len(body))
        self.metrics.snapshot_seconds.observe(time.perf_counter() - started)
        return self.snapshot_head

    # --- outputs -------------------------------------------------------------------------
    async def send(self, topic: str, key: str | None, value: bytes) -> None:
        self.outputs_add(topic, key.encode() if key is not None else None, value)

    def outputs_add(self, topic: str, key: bytes | None, value: bytes) -> None:
        # Enqueue only; delivery is awaited in `flush` (batches fill while we decide on).
        assert self.outputs is not None
        self.outputs.add(topic, key, value)

    async def flush(self) -> None:
        """Wait for every output handed over so far to be acknowledged (before offsets are marked
        decided)."""
        if self.outputs is not None:
            await self.outputs.flush()

    def outputs_of(self, outcome: Decision) -> list[Output]:
        """The records a decision writes, in the order they are published."""
        t = self.topics
        out: list[Output] = []
        for decision in outcome.decisions:
            wire = decision.to_wire()
            task = decision.task_id.encode() if decision.task_id is not None else None
            if decision.outcome is DecisionOutcome.accepted:
                assert decision.lane is not None
                if not decision.replayed:
                    out.append((t.lane(decision.lane), task, wire))
                out.append((t.tasks_accepted, task, wire))
            else:
                out.append((t.tasks_rejected, task, wire))
        for event in outcome.task_events:
            out.append((t.events_task, event.task_id.encode(), event.to_wire()))
        for memory in outcome.memory_events:
            out.append((t.events_memory, memory.lane.value.encode() if memory.lane else None, memory.to_wire()))
        return out

    async def stop(self) -> None:
        """Finish the batch in hand, commit, leave the group, snapshot, close: bounded by the
        shutdown grace (see `run`)."""
        if self.following is not None:
            self.following.cancel()
        try:
            if self.admitting is not None:
                async with self.intake.busy:  # no batch is half decided when the loop ends
                    self.admitting.cancel()
            await self.intake.stop()
            if self.producer is not None:
                await self.flush()
                await self.snapshot()
        except Exception:
            log.exception("admission could not commit, flush or snapshot on shutdown")
        finally:
            if self.producer is not None:
                await self.producer.stop()
            await self.follower.stop()


def fallback_event(transition: LaneTransition, offset: int) -> MemoryDiagnosticEvent:
    assert transition.reason is not None  # the LaneEvent validator requires it for degraded_shared
    return MemoryDiagnosticEvent(
        event_id=event_id(f"lane{offset}", "fallback_activated"),
        occurred_at=utc(transition.at),
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
    app = AdmissionApp(
        settings.resolved_admission_app_id,
        broker=[f"kafka://{hp.strip()}" for hp in settings.kafka_bootstrap.split(",")],
        datadir=str(data_dir),
        store="memory://",
        web_enabled=True,
        web_bind=settings.bind_host,
        web_host=settings.bind_host,
        web_port=settings.admission_web_port,
        autodiscover=False,
        **app_options(profile),
        **faust_security_options(settings),
    )
    service = AdmissionService(app, settings)

    @app.page("/metrics")
    class Metrics(View):
        async def get(self, request: Request) -> Response:
            service.metrics.observe_state(service.state, datetime.now(UTC))
            return self.bytes(service.metrics.exposition(),
                              content_type="text/plain; version=0.0.4")

    @app.page("/healthz")
    class Health(View):
        async def get(self, request: Request) -> Response:
            ready = service.ready.is_set()
            body = {"role": service.role, "ready": ready}
            return self.json(body, status=200 if ready else 503)

    # Snapshot and log catch-up run while the intake joins its group, not after.
    @app.task
    async def start_service() -> None:
        await service.start()

    @app.task
    async def admit_requests() -> None:
        service.admitting = asyncio.current_task()
        await service.admit()

    @app.timer(FLUSH_INTERVAL_S)
    async def flush_outputs() -> None:
        await service.flush()

    @app.timer(COMMIT_INTERVAL_S)
    async def commit_decided() -> None:
        await service.intake.commit()

    @app.timer(settings.admission_snapshot_interval_s)
    async def periodic_snapshot() -> None:
        if service.role == "active":  # one writer at a time; a stop writes a last one
            await service.snapshot()

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def stop_service(sender: Any, *args: Any, **kwargs: Any) -> None:
        arm_shutdown_deadline(settings.admission_shutdown_grace_s)
        await service.stop()

    return app, service


def arm_shutdown_deadline(grace_s: float) -> None:
    """Exit at the latest `grace_s` after a stop began, whatever the broker does.

    Undelivered outputs are safe to lose: their requests' offsets are not committed, so the next
    owner decides them again with the same event ids.
    """
    def expire() -> None:
        log.error("admission shutdown exceeded its %gs grace; exiting now (uncommitted requests "
                  "are redelivered to the next owner)", grace_s)
        os._exit(0)

    timer = threading.Timer(grace_s, expire)
    timer.daemon = True
    timer.start()


def run(settings: Settings, loglevel: str = "info") -> None:
    """Run the admission worker until SIGINT/SIGTERM (Faust's worker handles both)."""
    app, _ = build_app(settings)
    run_worker(app, loglevel)
