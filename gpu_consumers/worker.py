"""The lane worker: an aiokafka consumer-group member of `framegate-lane-<lane>`.

One job at a time, on the job thread (`job_chain`), so the event loop keeps the group membership
and lane heartbeats going for jobs of any length. The item's offset is committed only after its
terminal task event (and every other event of the job) is delivered (`AcknowledgedCommits`:
at-least-once); the task ledger makes a redelivered, already finished task a no-op.

Per job, no broker round trip is waited on in line with the jobs: the ledger is caught up once
per partition assignment (see task_ledger), not before every job; `processing` is sent while
the job starts; the deliveries and the commit run in a background step that overlaps the next
job, settled before the next one starts, so commits stay in order and a failed delivery stops
the worker before any later offset is committed.

Between two pipelines nothing waits on the event loop: while a pipeline runs, the next item is
fetched and checked and offered to the job thread, which starts it as soon as the pipeline
ends; the previous job's mp4 is written meanwhile (`encode_overlap`). Items that need the
ordinary checks take the ordinary path.

The parts: `lane_publisher` (where events go), `work_items` (checks and commits of one item),
`job_chain` (the job thread), `encode_overlap`, `shutdown` (grace), `lane_lifecycle` (clients,
heartbeats, warm-up), `metrics`. This module composes them.

Stopping: every wait of the serving loop gives way to the stop event (see `shutdown`), and
what follows a stop shares one grace period (`lane_shutdown_grace_s`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from gpu_consumers import task_events
from gpu_consumers.encode_overlap import EncodeOverlap
from gpu_consumers.errors import JobAbandoned, WorkerStopping
from gpu_consumers.fault_injection import OomFaultInjector
from gpu_consumers.heartbeat import heartbeat_event
from gpu_consumers.host_pressure import host_pressure, load_average
from gpu_consumers.job_chain import JobChain, Prepared, Ran
from gpu_consumers.job_runner import JobReport, JobRunner, served_models
from gpu_consumers.lane_lifecycle import (
    cancel_all,
    close_clients,
    default_worker_id,
    group_id,
    heartbeats,
    open_lane_consumer,
    open_ledger,
    warm_up,
)
from gpu_consumers.lane_publisher import LanePublisher, producer_config
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
from gpu_consumers.shutdown import Grace, job_within_grace, until_stopped, within
from gpu_consumers.task_events import TaskContext
from gpu_consumers.task_ledger import TaskLedger
from gpu_consumers.work_items import Item, check, runs_next
from schemas.acknowledged_commits import AcknowledgedCommits
from schemas.decisions import AdmissionDecision
from schemas.enums import LaneMode, ModelName, RouteLane, TaskErrorCode
from schemas.envelope import Envelope, utc_now
from schemas.policy import DEGRADED_QUEUE_POLICY
from schemas.settings import Settings
from schemas.tasks import TaskEvent

__all__ = ["LaneWorker", "group_id", "producer_config"]

log = logging.getLogger(__name__)


@dataclass
class _Running:
    """A job on the job thread: what its start and its terminal event need."""

    ctx: TaskContext
    item: Item
    future: concurrent.futures.Future[Ran]
    deliveries: list[Awaitable[object]]


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
        self.publisher = LanePublisher(lane, self.topics, settings.broker.single_record_changelog_batches)
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
            emit=self.publisher.emit_from_thread,
            clock=clock,
            faults=faults,
            gaps=self.gaps,
        )
        self.chain = JobChain(lane, self.runner, self._may_start, clock)
        #: mp4 encode + write of the previous job, overlapping the next job's pipeline.
        self.encodes = EncodeOverlap(lane, self.runner.finish)
        self.commits = AcknowledgedCommits()
        #: A record fetched while a job ran that takes the usual path, handled before the next fetch.
        self._carried: tuple[TopicPartition, ConsumerRecord] | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._stop = asyncio.Event()
        self.grace = Grace(settings.lane_shutdown_grace_s)
        self.ledger: TaskLedger | None = None
        #: The task abandoned at shutdown (its job thread stops at its next step), if any.
        self.abandoned: str | None = None
        self.jobs_run = 0
        self.items_seen = 0
        #: Terminal task events handed to the producer (delivered before their offset commits).
        self.terminal_sent = 0

    async def publish(self, event: Envelope) -> None:
        await self.publisher.publish(event)

    def _model_changed(self, change: ModelChange) -> None:
        """A load or eviction (on the job thread): on `events.lane`, and in the log."""
        log.info("model %s %s (%s); held: %s", change.model.value, change.kind.value, change.reason,
                 ", ".join(m.value for m in change.held) or "none")
        self.metrics.model_changes.labels(self.lane.value, change.kind.value).inc()
        self.publisher.emit_from_thread(model_change_event(self.lane, self.worker_id, change, self.clock()))

    # --- lifecycle ----------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        self._stop = stop
        producer = AIOKafkaProducer(**producer_config(self.settings.broker, self.settings.kafka_bootstrap))
        self.publisher.open(producer, stop)
        self.ledger = ledger = open_ledger(self.settings, self.metrics)
        self._consumer = consumer = open_lane_consumer(self.settings, self.lane, ledger)
        if self.settings.lane_metrics_port is not None:
            self.metrics.serve(self.settings.bind_host, self.settings.lane_metrics_port)
        await producer.start()
        grace_clock = asyncio.create_task(self.grace.begin_when(stop), name="lane-grace")
        beats = asyncio.create_task(
            heartbeats(stop, self.settings.lane_heartbeat_interval_s, self._heartbeat), name="lane-heartbeats"
        )
        try:
            await ledger.start()
            await until_stopped(self._warm_up(), stop)
            await consumer.start()
            log.info("worker %s serving %s", self.worker_id, self.topics.lane(self.lane))
            await self._serve(consumer, ledger)
        except WorkerStopping:
            log.info("worker %s stopping: the item in hand stays uncommitted (redelivered)", self.worker_id)
        except JobAbandoned:
            pass  # logged where it was decided
        finally:
            self.grace.begin()
            await cancel_all(beats, grace_clock)
            await self._close(consumer, ledger, producer)

    async def _serve(self, consumer: AIOKafkaConsumer, ledger: TaskLedger) -> None:
        while not self._stop.is_set():
            if self.encodes.written():
                await self._drain()
            carried, self._carried = self._carried, None
            if carried is not None:
                await self._handle(consumer, ledger, *carried)
                continue
            # While an mp4 is being written, poll often: its terminal event waits on this loop.
            wait_ms = 10 if self.encodes.busy else 200
            batches = await consumer.getmany(timeout_ms=wait_ms, max_records=1)
            for tp, messages in batches.items():
                for message in messages:
                    self.gaps.mark("fetch")
                    await self._handle(consumer, ledger, tp, message)

    async def _close(self, consumer: AIOKafkaConsumer, ledger: TaskLedger, producer: AIOKafkaProducer) -> None:
        """The last commit and the clients' shutdown, all within what is left of the grace."""
        encoding = self.encodes.encoding
        try:
            if encoding is not None and not await within(self._drain(), self.grace, "the last artifact write"):
                self.abandoned = encoding.task_id
                log.warning("abandoning task %s: its artifact write outlasted the shutdown grace; not "
                            "committed, it will be redelivered", encoding.task_id)
            await within(self.commits.settle(), self.grace, "the last offset commit")
        except (KafkaError, OSError) as exc:
            log.warning("last commit not made (%s): its item is redelivered", exc)
        except WorkerStopping:
            log.warning("last commit not made (stopping): its item is redelivered")
        await close_clients(consumer, ledger, producer, self.grace)
        self.chain.shutdown()
        self.encodes.shutdown()

    async def _warm_up(self) -> None:
        """Load the lane's model (the shared lane: the first one) so the lane reports ready."""
        first = served_models(self.lane)[0]
        await warm_up(lambda: asyncio.wrap_future(self.chain.call(self.models.acquire, first)), first.value)

    async def _heartbeat(self) -> None:
        host = host_pressure(
            self.status.view(),
            self.guard.measure(),
            self.settings.lane_gpu_session_quota,
            self.settings.lane_shared_fallback_enabled,
            self.host_load,
        )
        await self.publish(heartbeat_event(self.lane, self.worker_id, self.status.view(), host, self.clock()))

    # --- one work item ------------------------------------------------------------------------
    async def _handle(
        self, consumer: AIOKafkaConsumer, ledger: TaskLedger, tp: TopicPartition, message: ConsumerRecord
    ) -> None:
        self.items_seen += 1
        decision = check(message, self.lane)
        if isinstance(decision, AdmissionDecision):
            await self._process(ledger, decision, Item(consumer, tp, message.offset))
            return
        await self._drain()  # terminal events in item order: the encode in flight goes first
        await self._unrunnable(message, decision)
        await self._complete(Item(consumer, tp, message.offset), [])

    async def _complete(self, item: Item, deliveries: list[Awaitable[object]]) -> None:
        """The item's step after its terminal event: deliveries, then its commit, one at a time."""
        await self.commits.schedule([*deliveries, *self.publisher.take_pending()], item.commit)

    async def _unrunnable(self, message: ConsumerRecord, problem: str) -> None:
        key = (message.key or b"").decode("utf-8", "replace")
        log.warning("unrunnable item at %s@%d (key %r): %s", message.topic, message.offset, key, problem[:300])
        try:
            event = task_events.failed_unparseable(key, self.lane, self.worker_id, self.clock(), problem)
        except ValidationError:
            return  # no usable task id to report against; the record stays in the topic
        await self.publish(event)

    async def _process(self, ledger: TaskLedger, decision: AdmissionDecision, item: Item) -> None:
        """Run (or skip) one accepted item. A job that produced frames leaves them encoding (at
        most one at a time) while the next job's pipeline runs; that next job, prepared while
        this one ran, is started by the job thread itself (see `job_chain`)."""
        task_id = decision.task_id
        assert task_id is not None and decision.request is not None
        if self.encodes.is_for(task_id):
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
            deliveries.append(await self.publisher.send(back))
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
        future = self.chain.submit(decision, ctx)
        running: _Running | None = await self._started(_Running(ctx, item, future, deliveries), now)
        while running is not None:
            running = await self._follow(running)

    def _may_start(self, prepared: Prepared) -> bool:
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
        running.deliveries.append(await self.publisher.send(started))
        return running

    async def _follow(self, running: _Running) -> _Running | None:
        """Wait for a running job, meanwhile finishing the previous one's mp4 and preparing the
        next item; then hand this job's frames to the encoder. Returns the next job when the job
        thread already started it."""
        task_id = running.ctx.task_id
        job: asyncio.Future[Ran] = asyncio.wrap_future(running.future)
        overlap = self.settings.lane_encode_overlap
        encoding = self.encodes.encoding
        if encoding is not None:
            # The previous job's terminal event goes out as soon as its mp4 is written, not when
            # this pipeline ends.
            with contextlib.suppress(WorkerStopping):
                either: set[asyncio.Future[Any]] = {job, encoding.future}
                await until_stopped(asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED), self._stop)
            if encoding.future.done():
                await self._drain()
        if overlap and not self.encodes.busy and self._carried is None:
            # Only once the previous mp4 is written: at most one job's frames wait behind the encode.
            with contextlib.suppress(WorkerStopping):
                await self._prefetch(running, job)
        try:
            ran = await job_within_grace(job, task_id, self._stop, self.grace, self.runner.abandon)
        except JobAbandoned:
            self.abandoned = task_id
            raise
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
            withdrawn = self.chain.withdraw()
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
            self.encodes.start(task_id, result, running.deliveries, running.item)
            if not overlap:
                await self._drain()
        self.gaps.mark("bookkeeping")
        return following

    async def _prefetch(self, running: _Running, job: asyncio.Future[Ran]) -> None:
        """While the job runs: fetch the next record and, if it can run right away, offer it to
        the job thread; anything else is carried to the serving loop, handled after this job."""
        assert self._consumer is not None and self.ledger is not None
        ledger = self.ledger
        while not job.done():
            batches = await until_stopped(self._consumer.getmany(timeout_ms=20, max_records=1), self._stop)
            for tp, messages in batches.items():
                for message in messages:  # max_records=1: at most one
                    decision = check(message, self.lane)
                    if isinstance(decision, AdmissionDecision) and self._runs_next(decision, running, ledger):
                        ctx = TaskContext(decision, self.lane, self.worker_id, 0)
                        item = Item(self._consumer, tp, message.offset)
                        self.chain.offer(Prepared(decision, ctx, item, message))
                    else:
                        self._carried = (tp, message)
                    return

    def _runs_next(self, decision: AdmissionDecision, running: _Running, ledger: TaskLedger) -> bool:
        task_id = decision.task_id
        assert task_id is not None
        return runs_next(
            decision, running.ctx.task_id, current=ledger.current(), ended=ledger.ended(task_id),
            starts=ledger.starts(task_id), now=self.clock(),
        )

    async def _drain(self) -> None:
        """Wait for the job being encoded, publish its terminal event and schedule its commit."""
        encoding = self.encodes.take()
        if encoding is not None:
            report = await encoding.future
            self.gaps.mark("encode_wait")
            await self._finish(report, encoding.deliveries, encoding.item)
            self.gaps.mark("terminal_commit")

    async def _finish(self, report: JobReport, deliveries: list[Awaitable[object]], item: Item) -> None:
        if report.artifact is not None:
            self.status.artifact_written(report.artifact.write_ms)
        self.metrics.observe_job(report, self.guard.measure())
        assert self.ledger is not None
        deliveries = [*deliveries, await self._terminal(self.ledger, report.terminal)]
        await self._complete(item, deliveries)

    async def _terminal(self, ledger: TaskLedger, event: TaskEvent) -> asyncio.Future[object]:
        delivery = await self.publisher.send(event)
        ledger.record(event)
        self.terminal_sent += 1
        return delivery
