"""Stopping in bounded time: waits that give way to stop, and one grace period for the rest.

A worker told to stop must be gone before an orchestrator's kill (commonly 30 s after
SIGTERM), with the broker up or down. So every wait of the serving loop races the stop event
(`until_stopped`), and everything done after stop (the running job, the last commit, closing
the Kafka clients) shares one grace period counted from the stop (`Grace`, `within`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from gpu_consumers.errors import JobAbandoned, WorkerStopping

log = logging.getLogger(__name__)
T = TypeVar("T")


async def until_stopped(awaitable: Awaitable[T], stop: asyncio.Event) -> T:
    """The awaitable's result, or `WorkerStopping` as soon as `stop` is set (the work is cancelled)."""
    work = asyncio.ensure_future(awaitable)
    if stop.is_set():
        work.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await work
        raise WorkerStopping("stop requested")
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({work, stopped}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        work.cancel()
        raise
    finally:
        stopped.cancel()
    if work.done():
        return work.result()
    work.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await work
    raise WorkerStopping("stop requested")


class Grace:
    """One deadline for everything after stop; `begin` is idempotent (the first call counts)."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._deadline: float | None = None

    def begin(self) -> None:
        if self._deadline is None:
            self._deadline = self._clock() + self.seconds

    @property
    def begun(self) -> bool:
        return self._deadline is not None

    def remaining(self) -> float:
        self.begin()
        assert self._deadline is not None
        return max(0.0, self._deadline - self._clock())

    async def begin_when(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self.begin()


async def within(awaitable: Awaitable[object], grace: Grace, what: str) -> bool:
    """Await within what is left of the grace; False (logged, the work cancelled) when it runs out."""
    try:
        await asyncio.wait_for(awaitable, timeout=grace.remaining())
    except TimeoutError:
        log.warning("%s did not finish within the %.0f s shutdown grace; left behind", what, grace.seconds)
        return False
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise  # we are being cancelled ourselves
        # A client's close cancelled one of its own tasks (aiokafka does, with the broker gone).
        log.warning("%s was cut short by the client's own cancellation", what)
        return False
    return True


async def job_within_grace(
    job: asyncio.Future[T], task_id: str, stop: asyncio.Event, grace: Grace, abandon: threading.Event
) -> T:
    """The job's result; after a stop, only if it comes within the grace. Past the grace the
    job is abandoned (`abandon` is set, so its thread stops at its next step; `JobAbandoned` is
    raised): no terminal event, no commit, the item is redelivered."""
    try:
        return await until_stopped(asyncio.shield(job), stop)
    except WorkerStopping:
        grace.begin()
    log.info("stop requested while task %s runs: it may finish within %.0f s", task_id, grace.remaining())
    try:
        return await asyncio.wait_for(asyncio.shield(job), timeout=grace.remaining())
    except TimeoutError:
        pass
    abandon.set()
    job.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved: no warning
    log.warning(
        "abandoning task %s: still running %.0f s after stop (the shutdown grace); not committed, "
        "it will be redelivered", task_id, grace.seconds,
    )
    raise JobAbandoned(task_id)
