"""The lane worker's parts alone: item checks, the next-job rule, the grace, the job thread."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from typing import Any

import pytest
from aiokafka import ConsumerRecord

from gpu_consumers.errors import JobAbandoned
from gpu_consumers.job_chain import JobChain, Prepared
from gpu_consumers.lane_lifecycle import heartbeats
from gpu_consumers.shutdown import Grace, job_within_grace
from gpu_consumers.task_events import TaskContext
from gpu_consumers.work_items import check, runs_next
from schemas.enums import LaneMode, ModelName, RouteLane
from schemas.envelope import utc_now
from schemas.policy import DEGRADED_QUEUE_POLICY
from tests.factories import T0, accepted, rejected, request


def record(value: bytes, key: bytes = b"t-1") -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord("lane.phr00t", 0, 7, 0, 0, key, value, None, len(key), len(value), ())


def test_check_accepts_an_accepted_decision_for_this_lane() -> None:
    decision = accepted(request(ModelName.phr00t))
    assert check(record(decision.to_wire()), RouteLane.phr00t) == decision


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (b"{not json", "not a valid AdmissionDecision"),
        (rejected().to_wire(), "not an accepted decision"),
        (accepted(request(ModelName.anisora)).to_wire(), "arrived on lane phr00t"),
    ],
)
def test_check_says_why_an_item_cannot_run(value: bytes, problem: str) -> None:
    result = check(record(value), RouteLane.phr00t)
    assert isinstance(result, str) and problem in result


def test_only_a_fresh_first_attempt_of_another_task_runs_next() -> None:
    decision = accepted(request(ModelName.phr00t))
    now = utc_now()
    fresh = {"current": True, "ended": False, "starts": 0, "now": now}
    assert runs_next(decision, "other", **fresh)
    assert not runs_next(decision, decision.task_id or "", **fresh)
    assert not runs_next(decision, "other", **{**fresh, "current": False})
    assert not runs_next(decision, "other", **{**fresh, "ended": True})
    assert not runs_next(decision, "other", **{**fresh, "starts": 1})
    late = now + timedelta(seconds=DEGRADED_QUEUE_POLICY.max_wait_seconds + 1)
    degraded = accepted(request(ModelName.phr00t), lane_mode=LaneMode.degraded_shared, lane=RouteLane.shared)
    assert not runs_next(degraded, "other", **{**fresh, "now": late})


def test_a_job_within_the_grace_finishes_and_one_past_it_is_abandoned() -> None:
    async def scenario() -> tuple[int, bool]:
        stop, abandon = asyncio.Event(), threading.Event()
        loop = asyncio.get_running_loop()
        quick: asyncio.Future[int] = loop.create_future()
        loop.call_soon(stop.set)
        loop.call_later(0.01, quick.set_result, 5)
        got = await job_within_grace(quick, "t-1", stop, Grace(5.0), abandon)
        never: asyncio.Future[int] = loop.create_future()
        with pytest.raises(JobAbandoned):
            await job_within_grace(never, "t-2", stop, Grace(0.0), abandon)
        return got, abandon.is_set()

    assert asyncio.run(scenario()) == (5, True)


def test_heartbeats_go_on_after_a_failed_one_until_stop() -> None:
    async def scenario() -> int:
        stop, beats = asyncio.Event(), []

        async def beat() -> None:
            beats.append(1)
            if len(beats) == 1:
                raise OSError("broker away")
            if len(beats) == 3:
                stop.set()

        await asyncio.wait_for(heartbeats(stop, 0.0, beat), timeout=10)
        return len(beats)

    assert asyncio.run(scenario()) == 3


class _Runner:
    """A stand-in job runner: records what it generated, in order."""

    def __init__(self) -> None:
        self.ran: list[str] = []

    def generate(self, decision: Any, ctx: TaskContext, started: Any) -> Any:
        started()
        self.ran.append(ctx.task_id)
        return ctx.task_id


def test_the_job_thread_starts_an_offered_job_only_when_allowed() -> None:
    runner, allowed = _Runner(), {"yes": True}
    chain = JobChain(RouteLane.phr00t, runner, lambda _p: allowed["yes"], lambda: T0)  # type: ignore[arg-type]
    first, second = accepted(request(ModelName.phr00t)), accepted(request(ModelName.phr00t))
    ctx = [TaskContext(d, RouteLane.phr00t, "w-1", 0) for d in (first, second)]
    try:
        chain.offer(Prepared(second, ctx[1], None, None))  # type: ignore[arg-type]
        ran = chain.submit(first, ctx[0]).result(timeout=10)
        assert ran.chained is not None and ran.chained.started_at == T0
        assert ran.chained.future.result(timeout=10).chained is None
        assert runner.ran == [first.task_id, second.task_id]
        allowed["yes"] = False
        chain.offer(Prepared(second, ctx[1], None, None))  # type: ignore[arg-type]
        assert chain.submit(first, ctx[0]).result(timeout=10).chained is None
        assert chain.withdraw() is not None  # left for the event loop
    finally:
        chain.shutdown()
