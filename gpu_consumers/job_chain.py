"""The job thread: one job at a time, and the next one started the moment a pipeline ends.

The job runs on a single worker thread, so the event loop keeps the group membership and the
heartbeats going for jobs of any length. While a pipeline runs, the event loop fetches and
checks the next item and offers it (`offer`, see `JobSlot`); the job thread takes it as soon as
the pipeline ends and starts it without a round trip through the event loop, which may be busy
with the previous job's hand-off (its encode, its events). `may_start` says whether the thread
may still start an offered job (not after a stop, not with a ledger that must catch up first).
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from aiokafka import ConsumerRecord

from gpu_consumers.job_runner import Generated, JobReport, JobRunner
from gpu_consumers.job_slot import JobSlot
from gpu_consumers.task_events import TaskContext
from gpu_consumers.work_items import Item
from schemas.decisions import AdmissionDecision
from schemas.enums import RouteLane

T = TypeVar("T")
A = TypeVar("A")


@dataclass(frozen=True)
class Prepared:
    """The next item, checked while the current pipeline runs, ready for the job thread."""

    decision: AdmissionDecision
    ctx: TaskContext
    item: Item
    message: ConsumerRecord


@dataclass(frozen=True)
class Chained:
    """A prepared job the job thread started right after the previous pipeline."""

    prepared: Prepared
    started_at: datetime
    future: concurrent.futures.Future[Ran]
    #: Resolved once its pipeline runs: the event loop's hand-off work waits for that.
    began: concurrent.futures.Future[None]


@dataclass(frozen=True)
class Ran:
    result: Generated | JobReport
    chained: Chained | None


class JobChain:
    def __init__(
        self,
        lane: RouteLane,
        runner: JobRunner,
        may_start: Callable[[Prepared], bool],
        clock: Callable[[], datetime],
    ) -> None:
        self.runner = runner
        self.may_start = may_start
        self.clock = clock
        self.slot: JobSlot[Prepared] = JobSlot()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"lane-{lane.value}")

    def submit(self, decision: AdmissionDecision, ctx: TaskContext) -> concurrent.futures.Future[Ran]:
        return self._executor.submit(self._job, decision, ctx, None)

    def call(self, fn: Callable[[A], T], arg: A) -> concurrent.futures.Future[T]:
        """Other work that must run on the job thread (a model load), in line with the jobs."""
        return self._executor.submit(fn, arg)

    def offer(self, prepared: Prepared) -> None:
        self.slot.offer(prepared)

    def withdraw(self) -> Prepared | None:
        """The offered item the job thread did not start, if any."""
        return self.slot.withdraw()

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _job(
        self, decision: AdmissionDecision, ctx: TaskContext, began: concurrent.futures.Future[None] | None
    ) -> Ran:
        """On the job thread: generate, then start the prepared next job at once."""

        def pipeline_started() -> None:
            if began is not None and not began.done():
                began.set_result(None)

        result = self.runner.generate(decision, ctx, pipeline_started)
        prepared = self.slot.take(self.may_start)
        if prepared is None:
            return Ran(result, None)
        started_at = self.clock()
        next_began: concurrent.futures.Future[None] = concurrent.futures.Future()
        try:
            future = self._executor.submit(self._job, prepared.decision, prepared.ctx, next_began)
        except RuntimeError:  # shut down meanwhile: the item stays uncommitted and is redelivered
            return Ran(result, None)
        return Ran(result, Chained(prepared, started_at, future, next_began))
