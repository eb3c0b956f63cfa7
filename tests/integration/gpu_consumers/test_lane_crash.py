"""kill -9 mid-job: another member of the group completes the task; exactly one `done`, and the
audit's `tasks_current` says `done`.

Also: an item whose task already has a `done` on events.task (crash after publishing, before
committing) is committed without running again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gpu_consumers.task_fold import TaskFold
from gpu_consumers.worker import LaneWorker
from schemas import ModelName, RouteLane, TaskStatus, Topics
from schemas.envelope import utc_now
from schemas.tasks import TaskEvent
from streams.audit import ddl
from streams.audit.migrations import migrate
from streams.audit.sink import AuditSink
from tests.factories import task_event
from tests.integration.audit.harness import running, sink_config
from tests.integration.gpu_consumers.gpu_lane_harness import (
    lane_settings,
    observing,
    publish_items,
    publish_raw,
    spawn_worker,
    work_item,
)
from tests.waiting import async_wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]
def _stored_events(client: Any, db: str, task_id: str, where: str = "1") -> int:
    return int(client.query(
        f"SELECT uniqExact(event_id) FROM {db}.{ddl.TASK_EVENTS} WHERE task_id = {{t:String}} AND {where}",
        parameters={"t": task_id}).result_rows[0][0])


def test_kill_9_mid_job_another_worker_completes_it_once(
    kafka_bootstrap: str, topics: Topics, tiny_model_dir: Path, tmp_path: Path,
    processes: list[subprocess.Popen[bytes]], clickhouse_client: Any, clickhouse_dsn: str,
    clickhouse_database: str,
) -> None:
    """The audit sink records it all in chDB, and `tasks_current` says `done`: the second
    worker's `pending` and `processing` carry the same time, so only the log orders them."""
    db = clickhouse_database
    migrate(clickhouse_client, db, heartbeat_ttl_days=14)
    lane = RouteLane.anisora
    workers = {
        wid: spawn_worker(lane, wid, kafka_bootstrap, topics, tiny_model_dir, tmp_path)
        for wid in ("worker-a", "worker-b")
    }
    processes.extend(workers.values())
    item = work_item(ModelName.anisora, lane)
    task_id = str(item.task_id)
    assert item.request is not None
    now = utc_now()
    # Admission's own event for the task it accepted (no admission runs here).
    admitted = task_event(TaskStatus.pending, task_id, lane, model=item.request.model, task_type=item.request.type,
                          at=now, created_at=item.request.submitted_at, worker_id=None)

    async def scenario() -> list[TaskEvent]:
        sink = AuditSink(sink_config(kafka_bootstrap, topics, clickhouse_dsn, db))
        async with running(sink), observing(kafka_bootstrap, topics) as seen:
            await async_wait_until(
                lambda: {e.worker_id for e in seen.lanes if e.warm} == set(workers), 90,
                what="both workers warm",
            )
            await publish_raw(kafka_bootstrap, topics.events_task, admitted.to_wire(), task_id.encode())
            await publish_items(kafka_bootstrap, topics, [item])
            await async_wait_until(lambda: TaskStatus.processing in seen.statuses(task_id), 60,
                                   what="processing")
            victim = seen.tasks[-1].worker_id
            assert victim in workers
            os.kill(workers[victim].pid, signal.SIGKILL)
            workers[victim].wait(10)
            await async_wait_until(lambda: bool(seen.terminal(task_id)), 90, what="done after the kill")
            survivor = next(w for w in workers if w != victim)
            # Stop the survivor cleanly: nothing it still does may add a second terminal event.
            os.kill(workers[survivor].pid, signal.SIGTERM)
            await asyncio.to_thread(workers[survivor].wait, 30)
            terminal_count = len(seen.terminal(task_id))
            assert terminal_count == 1
            events = [e for e in seen.tasks if e.task_id == task_id]  # in log order: one partition
            await async_wait_until(lambda: _stored_events(clickhouse_client, db, task_id) == len(events), 60,
                                   what="the task's events in ClickHouse")

        # The redelivery goes back to pending before its second start: legal by TRANSITIONS.
        assert [e.task.status for e in events] == [
            TaskStatus.pending, TaskStatus.processing, TaskStatus.pending, TaskStatus.processing, TaskStatus.done
        ]
        assert events[1].worker_id == victim and events[2].worker_id == survivor
        assert events[3].attempt == 1  # the ledger saw the first start
        assert events[4].worker_id == survivor
        assert events[4].artifact_path
        assert workers[survivor].returncode == 0
        return events

    events = asyncio.run(scenario())
    result = clickhouse_client.query(
        f"SELECT status, worker_id, attempts, events, ignored_events FROM {db}.{ddl.TASKS_CURRENT} "
        "WHERE task_id = {t:String}", parameters={"t": task_id})
    assert len(result.result_rows) == 1
    row = dict(zip(result.column_names, result.result_rows[0], strict=True))
    fold = TaskFold()  # the workers' own fold of the same events, in log order
    for event in events:
        assert fold.fold(event) is None
    assert row == {"status": fold.status[task_id].value, "worker_id": events[-1].worker_id,
                   "attempts": events[-1].attempt, "events": 5, "ignored_events": 0}
    assert row["status"] == "done"
    assert _stored_events(clickhouse_client, db, task_id, "status = 'done'") == 1  # finished exactly once


def test_item_of_an_already_done_task_is_committed_not_rerun(
    kafka_bootstrap: str, topics: Topics, tiny_model_dir: Path, tmp_path: Path
) -> None:
    lane = RouteLane.phr00t
    settings = lane_settings(kafka_bootstrap, topics, tiny_model_dir, tmp_path / "artifacts")
    finished, fresh = work_item(ModelName.phr00t, lane), work_item(ModelName.phr00t, lane)
    now = utc_now()
    earlier_done = task_event(TaskStatus.done, str(finished.task_id), lane, task_type="text_to_video", at=now,
                              worker_id="crashed-after-publish", artifact_path="/tmp/earlier.mp4")

    async def scenario() -> None:
        worker = LaneWorker(lane, settings)
        stop = asyncio.Event()
        async with observing(kafka_bootstrap, topics) as seen:
            key = str(finished.task_id).encode()
            await publish_raw(kafka_bootstrap, topics.events_task, earlier_done.to_wire(), key)
            running = asyncio.create_task(worker.run(stop))
            await publish_items(kafka_bootstrap, topics, [finished, fresh])
            await async_wait_until(lambda: bool(seen.terminal(str(fresh.task_id))), 60, what="fresh done")
            await async_wait_until(lambda: worker.items_seen == 2, 30, what="both items handled")
            stop.set()
            await running
        assert seen.statuses(str(finished.task_id)) == [TaskStatus.done]  # only the earlier one
        assert seen.statuses(str(fresh.task_id)) == [TaskStatus.processing, TaskStatus.done]
        assert worker.jobs_run == 1

    asyncio.run(scenario())
