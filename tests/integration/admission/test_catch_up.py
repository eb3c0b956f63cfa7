"""A start-up that folds a long log ends with the same queues as the log says, whatever order the
broker hands the topics over in (the real broker, the real follower)."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import TopicPartition

from schemas import (
    DecisionOutcome,
    ModelName,
    RouteLane,
    SourceRecord,
    TaskStatus,
    Topics,
)
from schemas.broker_profile import BROKER_PROFILES
from streams.admission.decide import apply, decide
from streams.admission.follower import LogFollower, start_state
from streams.admission.state import AdmissionConfig, AdmissionState, fold_lane_event
from tests.admission_states import state
from tests.broker_io import Record, publish
from tests.factories import at, heartbeat, request, task_event

pytestmark = pytest.mark.integration

TASKS = 300


def history(topics: Topics) -> list[Record]:
    """TASKS accepted requests, each then started and finished by a worker."""
    live = state()
    decisions: list[Record] = []
    events: list[Record] = []
    for i in range(TASKS):
        fold_lane_event(live, heartbeat(RouteLane.phr00t, when=at(i)))
        out = decide(live, request(ModelName.phr00t, task_id=f"t{i}"), at(i), SourceRecord(
            topic=topics.tasks_requested, partition=0, offset=i))
        apply(live, out)
        assert out.decision.outcome is DecisionOutcome.accepted
        decisions.append((topics.tasks_accepted, f"t{i}".encode(), out.decision.to_wire()))
        for status, after in ((TaskStatus.processing, 0.1), (TaskStatus.done, 0.5)):
            done = status is TaskStatus.done
            event = task_event(status, f"t{i}", at=at(i + after), created_at=at(i), worker_id=None,
                               artifact_path="/a.mp4" if done else None, duration_seconds=0.4 if done else None)
            events.append((topics.events_task, f"t{i}".encode(), event.to_wire()))
    return [*decisions, *events]


def test_a_full_fold_leaves_no_finished_task_queued(kafka_bootstrap: str, topics: Topics) -> None:
    # A small early-event map: a fold that read the task events ahead of their decisions would
    # overflow it and count finished tasks as queued.
    small = AdmissionState(config=AdmissionConfig(max_early_events=10))
    asyncio.run(publish(kafka_bootstrap, history(topics), partition=0))

    async def fold() -> AdmissionState:
        follower = LogFollower(small, kafka_bootstrap, topics, BROKER_PROFILES["tansu"])
        await follower.start()
        try:
            folded, report = await start_state(follower.state, follower, None, 60.0)
        finally:
            await follower.stop()
        assert report.tail_records == 3 * TASKS
        return folded

    folded = asyncio.run(fold())
    assert {r.status for r in folded.tasks.values()} == {TaskStatus.done} and len(folded.tasks) == TASKS
    assert all(q.depth == 0 for q in folded.queues.values())
    assert len(folded.early) == 0


def worker_events(topics: Topics, first: int, count: int) -> list[Record]:
    """`processing` events of tasks `w<first>`..: no decision is known, so each waits in `early`."""
    return [(topics.events_task, f"w{i}".encode(),
             task_event(TaskStatus.processing, f"w{i}", at=at(i), worker_id=None).to_wire())
            for i in range(first, first + count)]


def test_a_fetch_that_skips_offsets_is_read_again(kafka_bootstrap: str, topics: Topics) -> None:
    """A fetch that jumps past unread records makes the follower seek back and read them. (A soak
    run on tansu once never folded a worker's `processing`, which kept its task queued; a fetch
    that skipped the record is the one way the follower's fold can miss it.)"""
    asyncio.run(publish(kafka_bootstrap, worker_events(topics, 0, 4), partition=0))

    async def follow() -> AdmissionState:
        follower = LogFollower(AdmissionState(), kafka_bootstrap, topics, BROKER_PROFILES["tansu"])
        await follower.start()
        try:
            await start_state(follower.state, follower, None, 60.0)
            assert follower.state.folded_upto[topics.events_task] == 4
            await publish(kafka_bootstrap, worker_events(topics, 4, 4), partition=0)
            # The next fetch starts two records late, as a broker skipping them would answer.
            follower.consumer.seek(TopicPartition(topics.events_task, 0), 6)
            deadline = asyncio.get_running_loop().time() + 30
            while follower.state.folded_upto[topics.events_task] < 8:
                assert asyncio.get_running_loop().time() < deadline, "the follower never reached offset 8"
                await follower.poll(200)
            return follower.state
        finally:
            await follower.stop()

    folded = asyncio.run(follow())
    assert set(folded.early) == {f"w{i}" for i in range(8)}
