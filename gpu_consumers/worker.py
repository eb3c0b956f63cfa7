"""The lane worker: an aiokafka consumer-group member of `framegate-lane-<lane>`.

One job at a time. The job runs on a single worker thread, so the event loop keeps the group
membership (aiokafka heartbeats) and lane heartbeats going for jobs of any length. The item's
offset is committed only after its terminal task event is published (at-least-once); the task
ledger makes a redelivered, already finished task a no-op.

Per job, no broker round trip is waited on in line with the jobs: the ledger is caught up once
per partition assignment (see task_ledger), not before every job; `processing` is sent while
the job starts; the terminal event is handed to the producer and the job's deliveries (its task
and memory events) are awaited, then its offset committed, in a background step that overlaps
the next job. That step is awaited before the next one starts, so commits stay in order and a
failed delivery stops the worker before any later offset is committed. Where the broker profile
asks for single-record batches (tansu: its end offset, which the ledger's catch-up relies on,
is wrong for multi-record batches), at most one task event of this worker is unacknowledged at
a time and the producer does not linger; other brokers batch normally.

Between two pipelines nothing waits on the event loop: while a pipeline runs, the next item is
fetched and checked and offered to the job thread (`JobSlot`), which starts it as soon as the
pipeline ends; the loop's hand-off (the encode, the `processing` event) follows once the next
pipeline runs. Items that need the ordinary checks take the ordinary path.

Stopping: every wait of the serving loop gives way to the stop event (see `shutdown`), and
what follows a stop shares one grace period (`lane_shutdown_grace_s`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from pydantic import ValidationError

from gpu_consumers import task_events
from gpu_consumers.errors import JobAbandoned, WorkerStopping
from gpu_consumers.fault_injection import OomFaultInjector
from gpu_consumers.heartbeat import heartbeat_event
from gpu_consumers.host_pressure import host_pressure, load_average
from gpu_consumers.job_runner import Generated, JobReport, JobRunner, served_models
from gpu_consumers.job_slot import JobSlot
from gpu_consumers.lane_status import LaneStatus
from gpu_consumers.memory_events import queue_timeout
from gpu_consumers.memory_guard import MemoryGuard
from gpu_consumers.metrics import WorkerMetrics
from gpu_consumers.model_cache import LoadBudget, ModelCache, ModelChange
from gpu_consumers.model_events import model_change_event
from gpu_consumers.pipeline_gaps import PipelineGaps
from gpu_consumers.pipelines import (
    LoadedPipeline,
    RunOptions,
    import_stack,
    load_pipeline,
    resolve_device,
)
from gpu_consumers.queue_wait import expired
from gpu_consumers.shutdown import Grace, until_stopped, within
from gpu_consumers.task_events import TaskContext
from gpu_consumers.task_ledger import TaskLedger
from schemas.broker_profile import BrokerProfile
from schemas.decisions import AdmissionDecision
from schemas.enums import DecisionOutcome, LaneMode, ModelName, RouteLane, TaskErrorCode, TaskStatus
from schemas.envelope import Envelope, utc_now
from schemas.lane import LaneEvent
from schemas.limits import MAX_ID_CHARS
from schemas.memory import MemoryDiagnosticEvent
from schemas.policy import DEGRADED_QUEUE_POLICY
from schemas.settings import Settings
from schemas.tasks import TaskEvent
from schemas.topic_ownership import lane_group
from schemas.wire import PayloadTooLarge, decode

log = logging.getLogger(__name__)
T = TypeVar("T")


def group_id(lane: RouteLane) -> str:
    return lane_group(lane)  # the ACLs grant this group (schemas.topic_ownership)


def default_worker_id(lane: RouteLane) -> str:
    return f"{lane.value}-{socket.gethostname()}-{os.getpid()}"[:MAX_ID_CHARS]


def producer_config(profile: BrokerProfile, bootstrap: str) -> dict[str, Any]:
    """The worker's producer: no lingering where the profile needs single-record batches."""
    linger = {"linger_ms": 0} if profile.single_record_changelog_batches else {}
    return profile.producer_kwargs(bootstrap, **linger)


@dataclass(frozen=True)
class _Item:
    """Where a work item came from: what its commit needs."""

    consumer: AIOKafkaConsumer
    tp: TopicPartition
    offset: int


@dataclass
class _Running:
    """A job on the job thread: what its start and its terminal event need."""

    ctx: TaskContext
    item: _Item
    future: concurrent.futures.Future[_Ran]
    deliveries: list[Awaitable[object]]


@dataclass(frozen=True)
class _Prepared:
    """The next item, checked while the current pipeline runs, ready for the job thread."""

    decision: AdmissionDecision
    ctx: TaskContext
    item: _Item
    message: ConsumerRecord


@dataclass(frozen=True)
class _Chained:
    """A prepared job the job thread started right after the previous pipeline."""

    prepared: _Prepared
    started_at: datetime
    future: concurrent.futures.Future[_Ran]
    #: Resolved once its pipeline runs: the event loop's hand-off work waits for that.
    began: concurrent.futures.Future[None]


@dataclass(frozen=True)
class _Ran:
    result: Generated | JobReport
    chained: _Chained | None


@dataclass
class _Encoding:
    """The one job whose mp4 is being written while the next job's pipeline runs."""

    task_id: str
    future: asyncio.Future[JobReport]
    deliveries: list[Awaitable[object]]
    item: _Item


class LedgerRefresh(ConsumerRebalanceListener):
    """Every lane-partition assignment makes the ledger catch up before the next job."""

    def __init__(self, ledger: TaskLedger) -> None:
        self._ledger = ledger

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        pass

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._ledger.refresh()


class LaneWorker:
    def __init__(
        self,
        lane: RouteLane,
        settings: Settings,
        clock: Callable[[], datetime] = utc_now,
        loader: Callable[[ModelName], LoadedPipeline] | None = None,
        host_load: Callable[[], float] = load_average,
    ) -> None:
        """`loader` replaces loading from `model_dir` (benchmarks' stand-in pipelines);
        `host_load` replaces the host's load average in heartbeats (stand-in hosts of a soak run,
        whose load is scripted rather than whatever else shares the machine)."""
        self.lane = lane
        self.settings = settings
        self.clock = clock
        self.host_load = host_load
        self.worker_id = settings.lane_worker_id or default_worker_id(lane)
        self.topics = settings.topics
        self.device = resolve_device(settings.lane_device)
        if self.device == "cpu":
            import torch

            torch.set_num_threads(settings.lane_torch_threads)
        self.guard = MemoryGuard(use_cuda=self.device == "cuda")
        import_stack()
        self.guard.freeze_baseline()
        self.status = LaneStatus(max_load_failures=settings.lane_max_load_failures)
        self.metrics = WorkerMetrics(lane)
        model_dir = settings.model_dir.expanduser().resolve()

        def from_model_dir(model: ModelName) -> LoadedPipeline:
            return load_pipeline(model, model_dir / model.value, self.device)

        budget = LoadBudget(
            need_gib={
                ModelName.anisora: settings.lane_need_gib_anisora,
                ModelName.phr00t: settings.lane_need_gib_phr00t,
            },
            reserve_gib=settings.lane_memory_reserve_gib,
            budget_gib=settings.lane_model_budget_gib,
        )
        self.models = ModelCache(
            self.guard, budget, loader or from_model_dir, self.status, on_change=self._model_changed
        )
        #: The time between one pipeline's end and the next one's start, by stage.
        self.gaps = PipelineGaps()
        faults = None
        if settings.lane_fault_oom_task_prefix:
            faults = OomFaultInjector(settings.lane_fault_oom_task_prefix, settings.lane_fault_oom_attempts)
        self.runner = JobRunner(
            lane=lane,
            worker_id=self.worker_id,
            models=self.models,
            guard=self.guard,
            artifact_dir=Path(settings.artifact_dir),
            options=RunOptions(settings.lane_max_sequence_length, settings.lane_step_delay_s),
            emit=self._emit_from_thread,
            clock=clock,
            faults=faults,
            gaps=self.gaps,
        )
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"lane-{lane.value}")
        #: mp4 encode + write of the previous job, overlapping the next job's pipeline.
        self._encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"encode-{lane.value}")
        self._encoding: _Encoding | None = None
        self._slot: JobSlot[_Prepared] = JobSlot()
        #: A record fetched while a job ran that takes the usual path, handled before the next fetch.
        self._carried: tuple[TopicPartition, ConsumerRecord] | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._producer: AIOKafkaProducer | None = None
        self._pending: list[concurrent.futures.Future[None]] = []
        self._commit: asyncio.Task[None] | None = None
        self._task_delivery: asyncio.Future[object] | None = None
        self._single_record_batches = settings.broker.single_record_changelog_batches
        self._stop = asyncio.Event()
        self.grace = Grace(settings.lane_shutdown_grace_s)
        self.ledger: TaskLedger | None = None
        #: The task abandoned at shutdown (its job thread stops at its next step), if any.
        self.abandoned: str | None = None
        self.jobs_run = 0
        self.items_seen = 0
        #: Terminal task events handed to the producer (delivered before their offset commits).
        self.terminal_sent = 0

    # --- publishing ---------------------------------------------------------------------------
    async def publish(self, event: Envelope) -> None:
        delivery = await self.send(event)
        await until_stopped(asyncio.shield(delivery), self._stop)

    async def send(self, event: Envelope) -> asyncio.Future[object]:
        """Hand the event to the producer; the returned future resolves once it is delivered."""
        assert self._producer is not None
        if isinstance(event, TaskEvent):
            topic, key = self.topics.events_task, event.task_id
            if self._single_record_batches and self._task_delivery is not None:
                # One unacknowledged task event at a time: single-record batches, in order.
                await until_stopped(asyncio.shield(self._task_delivery), self._stop)
        elif isinstance(event, MemoryDiagnosticEvent):
            topic, key = self.topics.events_memory, self.lane.value
        elif isinstance(event, LaneEvent):
            topic, key = self.topics.events_lane, self.lane.value
        else:  # pragma: no cover - a programming error, not input
            raise TypeError(f"no topic for {type(event).__name__}")
        delivery: asyncio.Future[object] = await self._producer.send(topic, event.to_wire(), key=key.encode())
        if isinstance(event, TaskEvent):
            self._task_delivery = delivery
        return delivery

    def _emit_from_thread(self, event: Envelope) -> None:
        """Memory events from the job thread: sent while the job goes on (not waited on there);
        their deliveries are awaited before the job's offset commits, so none is lost to it."""
        assert self._loop is not None
        self._pending.append(asyncio.run_coroutine_threadsafe(self.publish(event), self._loop))

    def _model_changed(self, change: ModelChange) -> None:
        """A load or eviction (on the job thread): on `events.lane`, and in the log."""
        log.info("model %s %s (%s); held: %s", change.model.value, change.kind.value, change.reason,
                 ", ".join(m.value for m in change.held) or "none")
        self.metrics.model_changes.labels(self.lane.value, change.kind.value).inc()
        if self._loop is not None:
            self._emit_from_thread(model_change_event(self.lane, self.worker_id, change, self.clock()))

    # --- lifecycle ----------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = stop
        broker, bootstrap = self.settings.broker, self.settings.kafka_bootstrap
        self._producer = AIOKafkaProducer(**producer_config(broker, bootstrap))
        invalid = self.metrics.ledger_invalid_events.labels(self.lane.value)
        self.ledger = ledger = TaskLedger(
            self.topics.events_task,
            broker.consumer_kwargs(bootstrap, None, fetch_max_wait_ms=self.settings.lane_ledger_fetch_wait_ms),
            window_s=self.settings.lane_ledger_window_h * 3600.0,
            offsets_for_times=broker.offsets_for_times,
            on_invalid=lambda _refused: invalid.inc(),
        )
        self._consumer = consumer = AIOKafkaConsumer(**broker.consumer_kwargs(bootstrap, group_id(self.lane)))
        consumer.subscribe([self.topics.lane(self.lane)], listener=LedgerRefresh(ledger))
        if self.settings.lane_metrics_port is not None:
            self.metrics.serve(self.settings.bind_host, self.settings.lane_metrics_port)
        await self._producer.start()
        grace_clock = asyncio.create_task(self.grace.begin_when(stop), name="lane-grace")
        heartbeats = asyncio.create_task(self._heartbeats(stop), name="lane-heartbeats")
        try:
            await ledger.start()
            await until_stopped(self._warm_up(), stop)
            await consumer.start()
            log.info("worker %s serving %s", self.worker_id, self.topics.lane(self.lane))
            while not stop.is_set():
                if self._encoding is not None and self._encoding.future.done():
                    await self._drain()
                carried, self._carried = self._carried, None
                if carried is not None:
                    await self._handle(consumer, ledger, *carried)
                    continue
                # While an mp4 is being written, poll often: its terminal event waits on this loop.
                wait_ms = 10 if self._encoding is not None else 200
                batches = await consumer.getmany(timeout_ms=wait_ms, max_records=1)
                for tp, messages in batches.items():
                    for message in messages:
                        self.gaps.mark("fetch")
                        await self._handle(consumer, ledger, tp, message)
        except WorkerStopping:
            log.info("worker %s stopping: the item in hand stays uncommitted (redelivered)", self.worker_id)
        except JobAbandoned:
            pass  # logged where it was decided
        finally:
            self.grace.begin()
            for task in (heartbeats, grace_clock):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self._close(consumer, ledger)

    async def _close(self, consumer: AIOKafkaConsumer, ledger: TaskLedger) -> None:
        """The last commit and the clients' shutdown, all within what is left of the grace."""
        assert self._producer is not None
        encoding = self._encoding
        try:
            if encoding is not None and not await within(self._drain(), self.grace, "the last artifact write"):
                self.abandoned = encoding.task_id
                log.warning("abandoning task %s: its artifact write outlasted the shutdown grace; not "
                            "committed, it will be redelivered", encoding.task_id)
            await within(self._settle_commit(), self.grace, "the last offset commit")
        except (KafkaError, OSError) as exc:
            log.warning("last commit not made (%s): its item is redelivered", exc)
        except WorkerStopping:
            log.warning("last commit not made (stopping): its item is redelivered")
        await within(consumer.stop(), self.grace, "closing the lane consumer")
        await within(ledger.stop(), self.grace, "closing the task ledger")
        await within(self._producer.stop(), self.grace, "closing the producer")
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._encoder.shutdown(wait=False, cancel_futures=True)

    async def _warm_up(self) -> None:
        """Load the lane's model (the shared lane: the first one) so the lane reports ready."""
        first = served_models(self.lane)[0]
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self.models.acquire, first)
        except Exception as exc:  # keep serving: jobs retry the load and fail with a clear code
            log.error("warm-up load of %s failed: %s", first.value, exc)

    async def _heartbeats(self, stop: asyncio.Event) -> None:
        interval = self.settings.lane_heartbeat_interval_s
        while not stop.is_set():
            try:
                host = host_pressure(
                    self.status.view(),
                    self.guard.measure(),
                    self.settings.lane_gpu_session_quota,
                    self.settings.lane_shared_fallback_enabled,
                    self.host_load,
                )
                await self.publish(heartbeat_event(self.lane, self.worker_id, self.status.view(), host, self.clock()))
            except (KafkaError, OSError, ValidationError) as exc:
                log.warning("heartbeat not sent: %s", exc)
            except WorkerStopping:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)

    # --- one work item ------------------------------------------------------------------------
    async def _handle(
        self, consumer: AIOKafkaConsumer, ledger: TaskLedger, tp: TopicPartition, message: ConsumerRecord
    ) -> None:
        self.items_seen += 1
        decision = self._check(message)
        if isinstance(decision, AdmissionDecision):
            await self._process(ledger, decision, _Item(consumer, tp, message.offset))
            return
        await self._drain()  # terminal events in item order: the encode in flight goes first
        await self._unrunnable(message, decision)
        await self._complete(_Item(consumer, tp, message.offset), [])

    async def _commit_after(self, deliveries: list[Awaitable[object]], item: _Item) -> None:
        """Commit the item once its events are delivered. A failed delivery raises (at the next
        `_settle_commit`): nothing is committed from then on and the worker stops."""
        await asyncio.gather(*deliveries)
        try:
            await item.consumer.commit({item.tp: item.offset + 1})
        except (CommitFailedError, IllegalStateError) as exc:
            # The partition moved to another member mid-job: it redelivers, the ledger dedupes.
            log.warning("commit of %s@%d failed: %s", item.tp, item.offset, exc)

    async def _settle_commit(self) -> None:
        """Wait for the previous item's deliveries and commit (re-raising a failed delivery)."""
        commit, self._commit = self._commit, None
        if commit is not None:
            await commit

    async def _complete(self, item: _Item, deliveries: list[Awaitable[object]]) -> None:
        """The item's step after its terminal event: deliveries, then its commit, one at a time."""
        pending, self._pending = self._pending, []
        deliveries = [*deliveries, *(asyncio.wrap_future(f) for f in pending)]
        # The previous item's step first: commits in offset order, at most one in flight.
        await self._settle_commit()
        self._commit = asyncio.create_task(self._commit_after(deliveries, item))

    def _check(self, message: ConsumerRecord) -> AdmissionDecision | str:
        """A runnable accepted decision, or why the item cannot run."""
        try:
            decision = decode(AdmissionDecision, message.value or b"")
        except (ValidationError, PayloadTooLarge) as exc:
            return f"work item is not a valid AdmissionDecision: {exc}"
        if decision.outcome is not DecisionOutcome.accepted or decision.request is None:
            return "work item is not an accepted decision"
        if decision.lane is not self.lane:
            return f"work item for lane {decision.lane} arrived on lane {self.lane.value}"
        if decision.request.task_id != decision.task_id:
            return "work item task_id differs from its request's task_id"
        return decision

    async def _unrunnable(self, message: ConsumerRecord, problem: str) -> None:
        key = (message.key or b"").decode("utf-8", "replace")
        log.warning("unrunnable item at %s@%d (key %r): %s", message.topic, message.offset, key, problem[:300])
        try:
            event = task_events.failed_unparseable(key, self.lane, self.worker_id, self.clock(), problem)
        except ValidationError:
            return  # no usable task id to report against; the record stays in the topic
        await self.publish(event)

    async def _process(self, ledger: TaskLedger, decision: AdmissionDecision, item: _Item) -> None:
        """Run (or skip) one accepted item. A job that produced frames leaves them encoding (at
        most one at a time) while the next job's pipeline runs; that next job, prepared while
        this one ran, is started by the job thread itself (see `_job`)."""
        task_id = decision.task_id
        assert task_id is not None and decision.request is not None
        if self._encoding is not None and self._encoding.task_id == task_id:
            await self._drain()  # the same task again, back to back: let the ledger see its end
        timeout = self.settings.lane_done_catchup_timeout_s
        while not await until_stopped(ledger.ensure_current(timeout), self._stop):
            # Fail closed: never run a task without knowing whether it already finished.
            log.warning("task ledger not caught up yet; holding %s", task_id)
        if ledger.ended(task_id):
            log.info("task %s already finished (redelivery); not re-running", task_id)
            await self._drain()
            await self._complete(item, [])
            return
        now = self.clock()
        ctx = TaskContext(decision, self.lane, self.worker_id, ledger.starts(task_id))
        deliveries: list[Awaitable[object]] = []
        if ctx.attempt > 0:
            # A redelivery of a started task (its worker died): processing -> pending -> processing,
            # the crash-redelivery path of the task's transitions.
            back = task_events.requeued(ctx, now)
            ledger.record(back)
            deliveries.append(await self.send(back))
        waited = expired(decision, now)
        if waited is not None:
            await self._drain()
            await self.publish(
                queue_timeout(
                    lane=self.lane, lane_mode=decision.lane_mode or LaneMode.degraded_shared,
                    worker_id=self.worker_id, now=now, waited_s=waited, model=decision.request.model,
                    task_id=task_id,
                )
            )
            failed = task_events.failed(
                ctx, now, TaskErrorCode.queue_overloaded,
                f"waited {waited:.1f}s in the degraded queue "
                f"(limit {DEGRADED_QUEUE_POLICY.max_wait_seconds}s); not run",
            )
            deliveries.append(await self._terminal(ledger, failed))
            await self._complete(item, deliveries)
            return
        self.gaps.mark("admit")
        future = self._executor.submit(self._job, decision, ctx, None)
        running: _Running | None = await self._started(_Running(ctx, item, future, deliveries), now)
        while running is not None:
            running = await self._follow(running)

    def _job(
        self, decision: AdmissionDecision, ctx: TaskContext, began: concurrent.futures.Future[None] | None
    ) -> _Ran:
        """On the job thread: generate, then start the prepared next job at once (no round trip
        through the event loop, which may be busy with this job's hand-off)."""

        def pipeline_started() -> None:
            if began is not None and not began.done():
                began.set_result(None)

        result = self.runner.generate(decision, ctx, pipeline_started)
        prepared = self._slot.take(self._may_start)
        if prepared is None:
            return _Ran(result, None)
        started_at = self.clock()
        next_began: concurrent.futures.Future[None] = concurrent.futures.Future()
        try:
            future = self._executor.submit(self._job, prepared.decision, prepared.ctx, next_began)
        except RuntimeError:  # shut down meanwhile: the item stays uncommitted and is redelivered
            return _Ran(result, None)
        return _Ran(result, _Chained(prepared, started_at, future, next_began))

    def _may_start(self, prepared: _Prepared) -> bool:
        """Whether the job thread may start a prepared job now (else the event loop handles it)."""
        if self._stop.is_set() or self.runner.abandon.is_set():
            return False
        if self.ledger is None or not self.ledger.current():  # reassigned since: catch up first
            return False
        return expired(prepared.decision, self.clock()) is None

    async def _started(self, running: _Running, now: datetime) -> _Running:
        """A job's start: its `processing` event (sent while it runs, ordered after the previous
        item's terminal event by `send`), the ledger, status and metrics."""
        started = task_events.processing(running.ctx, now)
        assert self.ledger is not None
        self.ledger.record(started)
        self.status.job_started()
        self.metrics.busy.labels(self.lane.value).set(1)
        running.deliveries.append(await self.send(started))
        return running

    async def _follow(self, running: _Running) -> _Running | None:
        """Wait for a running job, meanwhile finishing the previous one's mp4 and preparing the
        next item; then hand this job's frames to the encoder. Returns the next job when the job
        thread already started it."""
        task_id = running.ctx.task_id
        job = asyncio.wrap_future(running.future)
        overlap = self.settings.lane_encode_overlap
        encoding = self._encoding
        if encoding is not None:
            # The previous job's terminal event goes out as soon as its mp4 is written, not when
            # this pipeline ends.
            with contextlib.suppress(WorkerStopping):
                either: set[asyncio.Future[Any]] = {job, encoding.future}
                await until_stopped(asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED), self._stop)
            if encoding.future.done():
                await self._drain()
        if overlap and self._encoding is None and self._carried is None:
            # Only once the previous mp4 is written: at most one job's frames wait behind the encode.
            with contextlib.suppress(WorkerStopping):
                await self._prefetch(running, job)
        ran = await self._job_result(job, task_id)
        self.gaps.mark("hand_back")
        self.jobs_run += 1
        result, chained = ran.result, ran.chained
        if chained is not None:
            # The next pipeline gets going before this thread competes with it for the
            # interpreter (the encode's ffmpeg spawn above all).
            job_done = asyncio.wrap_future(chained.future)
            job_done.add_done_callback(lambda f: f.cancelled() or f.exception())  # awaited by `_follow`
            either = {asyncio.wrap_future(chained.began), job_done}
            with contextlib.suppress(WorkerStopping):
                await until_stopped(asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED), self._stop)
        lane = self.lane.value
        self.metrics.busy_seconds.labels(lane).inc(result.pipeline_s)
        if chained is None:
            self.metrics.busy.labels(lane).set(0)
            self.status.job_finished(None)
            withdrawn = self._slot.withdraw()
            if withdrawn is not None:  # not started by the job thread: handled the usual way
                self._carried = (withdrawn.item.tp, withdrawn.message)
        self.gaps.mark("bookkeeping")
        await self._drain()  # the previous job's mp4, terminal event and commit come first
        following = None
        if chained is not None:
            self.items_seen += 1
            nxt = chained.prepared
            following = await self._started(_Running(nxt.ctx, nxt.item, chained.future, []), chained.started_at)
        if isinstance(result, JobReport):  # failed before it had frames
            await self._finish(result, running.deliveries, running.item)
        else:
            encode = asyncio.get_running_loop().run_in_executor(self._encoder, self.runner.finish, result)
            self._encoding = _Encoding(task_id, encode, running.deliveries, running.item)
            if not overlap:
                await self._drain()
        self.gaps.mark("bookkeeping")
        return following

    async def _prefetch(self, running: _Running, job: asyncio.Future[_Ran]) -> None:
        """While the job runs: fetch the next record and, if it can run right away, offer it to
        the job thread; anything else is carried to the serving loop, handled after this job."""
        assert self._consumer is not None and self.ledger is not None
        ledger = self.ledger
        while not job.done():
            batches = await until_stopped(self._consumer.getmany(timeout_ms=20, max_records=1), self._stop)
            for tp, messages in batches.items():
                for message in messages:  # max_records=1: at most one
                    decision = self._check(message)
                    if isinstance(decision, AdmissionDecision) and self._runs_next(decision, running, ledger):
                        ctx = TaskContext(decision, self.lane, self.worker_id, 0)
                        item = _Item(self._consumer, tp, message.offset)
                        self._slot.offer(_Prepared(decision, ctx, item, message))
                    else:
                        self._carried = (tp, message)
                    return

    def _runs_next(self, decision: AdmissionDecision, running: _Running, ledger: TaskLedger) -> bool:
        """An item the job thread may start without the serving loop's checks: a first attempt of
        another task, the ledger current, not finished, not expired. The rest take the usual path."""
        task_id = decision.task_id
        assert task_id is not None
        return (
            task_id != running.ctx.task_id
            and ledger.current()
            and not ledger.ended(task_id)
            and ledger.starts(task_id) == 0
            and expired(decision, self.clock()) is None
        )

    async def _drain(self) -> None:
        """Wait for the job being encoded, publish its terminal event and schedule its commit."""
        encoding, self._encoding = self._encoding, None
        if encoding is not None:
            report = await encoding.future
            self.gaps.mark("encode_wait")
            await self._finish(report, encoding.deliveries, encoding.item)
            self.gaps.mark("terminal_commit")

    async def _finish(self, report: JobReport, deliveries: list[Awaitable[object]], item: _Item) -> None:
        self._observe(report)
        assert self.ledger is not None
        deliveries = [*deliveries, await self._terminal(self.ledger, report.terminal)]
        await self._complete(item, deliveries)

    async def _job_result(self, job: asyncio.Future[T], task_id: str) -> T:
        """The job's result; after a stop, only if it comes within the grace. Past the grace the
        job is abandoned (`JobAbandoned`): no terminal event, no commit, the item is redelivered."""
        try:
            return await until_stopped(asyncio.shield(job), self._stop)
        except WorkerStopping:
            self.grace.begin()
        log.info("stop requested while task %s runs: it may finish within %.0f s", task_id, self.grace.remaining())
        try:
            return await asyncio.wait_for(asyncio.shield(job), timeout=self.grace.remaining())
        except TimeoutError:
            pass
        self.runner.abandon.set()
        self.abandoned = task_id
        job.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved: no warning
        log.warning(
            "abandoning task %s: still running %.0f s after stop (the shutdown grace); not committed, "
            "it will be redelivered", task_id, self.grace.seconds,
        )
        raise JobAbandoned(task_id)

    async def _terminal(self, ledger: TaskLedger, event: TaskEvent) -> asyncio.Future[object]:
        delivery = await self.send(event)
        ledger.record(event)
        self.terminal_sent += 1
        return delivery

    def _observe(self, report: JobReport) -> None:
        event = report.terminal
        write_ms = report.artifact.write_ms if report.artifact else None
        if write_ms is not None:
            self.status.artifact_written(write_ms)
        lane = self.lane.value
        code = event.error_code.value if event.error_code else ""
        self.metrics.jobs.labels(lane, event.task.status.value, code).inc()
        if event.duration_seconds is not None and event.task.status is TaskStatus.done:
            self.metrics.job_seconds.labels(lane).observe(event.duration_seconds)
        if write_ms is not None:
            self.metrics.artifact_write_seconds.labels(lane).set(write_ms / 1000.0)
        if report.oom_retries:
            self.metrics.oom_retries.labels(lane).inc(report.oom_retries)
        value, unit = self.guard.measure().headline()
        self.metrics.memory_bytes.labels(lane, unit.removesuffix("_gib")).set(value * 2**30)
