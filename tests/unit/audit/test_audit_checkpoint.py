"""Checkpoint step without a broker: flush before commit, back-pressure, commit failures, backoff.

ClickHouse and Kafka are stand-ins here (the integration tests use the real ones); the errors
they raise are the real client types.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError
from hypothesis import given
from hypothesis import strategies as st

from schemas.topics import Topics
from streams.audit import ddl
from streams.audit.batching import Batcher
from streams.audit.checkpoint import Checkpoint, CheckpointStep, SinkStats
from streams.audit.errors import SinkBackpressureError
from streams.audit.metrics import SinkMetrics
from streams.audit.rows import Source, routes, to_row
from streams.audit.writer import Backoff, ClickHouseWriter
from tests import factories

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
TP = TopicPartition("framegate.events.task", 0)


class RefusingClient:
    """Refuses inserts into the tables in `refused` (as a detached table would)."""

    def __init__(self, refused: set[str]) -> None:
        self.refused = refused
        self.inserted: list[tuple[str, int]] = []

    def create_insert_context(self, table: str, column_names: list[str]) -> SimpleNamespace:
        return SimpleNamespace(table=table.split(".", 1)[1], data=None)

    def insert(self, context: SimpleNamespace) -> None:
        rows, context.data = context.data, None
        if context.table in self.refused:
            raise ConnectionError(f"table {context.table} is detached")
        self.inserted.append((context.table, len(rows)))


class Committer:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.commits: list[dict[TopicPartition, int]] = []

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if self.error is not None:
            raise self.error
        self.commits.append(offsets)


def _checkpoint() -> Checkpoint:
    topics = Topics()
    r = routes(topics)
    items = [
        to_row(r, Source(topics.events_task, 0, 0), factories.task_event().to_wire(), NOW),
        to_row(r, Source(topics.events_task, 0, 1), factories.task_event().to_wire(), NOW),
        to_row(r, Source(topics.events_lane, 0, 0), factories.heartbeat().to_wire(), NOW),
        to_row(r, Source(topics.events_lane, 0, 1), b"not json", NOW),
    ]
    return Checkpoint.build(items, {TP: 2}, generation=0)


def _sample(metrics: SinkMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_checkpoint_groups_rows_per_table_and_counts_rejects_by_kind() -> None:
    cp = _checkpoint()
    assert {t: len(rows) for t, rows in cp.rows.items()} == {
        ddl.TASK_EVENTS: 2, ddl.LANE_EVENTS: 1, ddl.REJECTS: 1,
    }
    assert cp.size == 4 and dict(cp.rejects) == {"invalid": 1}
    assert cp.pending_tables() == [ddl.TASK_EVENTS, ddl.LANE_EVENTS, ddl.REJECTS]


def test_a_refused_table_raises_backpressure_and_a_retry_writes_only_the_rest() -> None:
    client, committer, metrics = RefusingClient({ddl.LANE_EVENTS}), Committer(), SinkMetrics()
    step = CheckpointStep(ClickHouseWriter(client, "db", Backoff(0.5, 4.0)), committer, metrics, SinkStats())
    cp = _checkpoint()

    with pytest.raises(SinkBackpressureError) as refused:
        asyncio.run(step.flush(cp))
    assert refused.value.table == ddl.LANE_EVENTS and 0.5 <= refused.value.retry_after <= 1.0
    assert client.inserted == [(ddl.TASK_EVENTS, 2)] and cp.written == {ddl.TASK_EVENTS}
    assert _sample(metrics, "framegate_audit_insert_failures_total", table=ddl.LANE_EVENTS) == 1
    assert _sample(metrics, "framegate_audit_clickhouse_up") == 0

    with pytest.raises(SinkBackpressureError) as again:  # still refused: the wait grows
        asyncio.run(step.flush(cp))
    assert 1.0 <= again.value.retry_after <= 1.5

    client.refused.clear()
    asyncio.run(step.flush(cp))
    assert client.inserted == [(ddl.TASK_EVENTS, 2), (ddl.LANE_EVENTS, 1), (ddl.REJECTS, 1)]
    assert _sample(metrics, "framegate_audit_clickhouse_up") == 1
    assert step.writer.refusals == 0
    assert asyncio.run(step.commit(cp)) is True and committer.commits == [{TP: 2}]


def test_a_commit_refused_by_kafka_is_counted_and_not_raised() -> None:
    metrics, stats = SinkMetrics(), SinkStats()
    committer = Committer(CommitFailedError("group rebalanced"))
    step = CheckpointStep(ClickHouseWriter(RefusingClient(set()), "db", Backoff(0.5, 4.0)), committer, metrics, stats)
    cp = _checkpoint()
    asyncio.run(step.flush(cp))
    assert asyncio.run(step.commit(cp)) is False
    assert stats.commit_failures == 1
    assert _sample(metrics, "framegate_audit_commit_failures_total") == 1
    assert _sample(metrics, "framegate_audit_commits_total") == 0


def test_observe_counts_rejects_per_kind_from_the_named_field() -> None:
    metrics, stats = SinkMetrics(), SinkStats()
    step = CheckpointStep(ClickHouseWriter(RefusingClient(set()), "db", Backoff(0.5, 4.0)), Committer(), metrics, stats)
    step.observe(_checkpoint(), 0.01)
    assert _sample(metrics, "framegate_audit_rejected_records_total", kind="invalid") == 1
    assert (stats.rows, stats.rejects, stats.batches) == (3, 1, 1)


@given(st.floats(0.01, 5.0), st.floats(1.0, 100.0), st.integers(1, 200))
def test_backoff_doubles_with_bounded_jitter_and_never_exceeds_its_cap(initial: float, factor: float, attempt: int) -> None:
    cap = initial * factor
    delay = Backoff(initial, cap).delay(attempt)
    base = initial * 2 ** min(attempt - 1, 60)
    assert min(base, cap) <= delay + 1e-9
    assert delay <= min(base + initial, cap) + 1e-9


def test_backoff_refuses_nonsense_bounds() -> None:
    with pytest.raises(ValueError):
        Backoff(0, 1)
    with pytest.raises(ValueError):
        Backoff(2, 1)


def test_a_caught_up_batch_flushes_after_the_linger_not_the_age_bound() -> None:
    now, linger = 100.0, 0.05
    batcher: Batcher[object] = Batcher(max_items=10, max_age_s=1.0)
    batcher.extend([to_row(routes(Topics()), Source(Topics().events_lane, 0, 0), b"{}", NOW)], now)
    assert not batcher.due_after_linger(now, caught_up=False, linger_s=linger)
    now += 0.06
    assert not batcher.due_after_linger(now, False, linger), "more may be waiting: only the age bound flushes"
    assert batcher.due_after_linger(now, True, linger)
    assert not batcher.due_after_linger(now - 0.03, True, linger), "caught up, but not lingered long enough"
    assert batcher.due_after_linger(now + 1.0, False, linger), "the age bound flushes either way"


def test_a_flush_writes_every_table_without_going_back_to_the_event_loop() -> None:
    """The loop is kept busy (as a long decode keeps it) while the flush runs: every table is
    still written, so no table waits for the loop to come back."""
    import threading

    class NotingClient(RefusingClient):
        def __init__(self) -> None:
            super().__init__(set())
            self.all_written = threading.Event()

        def insert(self, context: SimpleNamespace) -> None:
            super().insert(context)
            if len(self.inserted) == 3:
                self.all_written.set()

    client = NotingClient()
    step = CheckpointStep(ClickHouseWriter(client, "db", Backoff(0.5, 4.0)), Committer(), SinkMetrics(), SinkStats())
    cp = _checkpoint()

    async def scenario() -> bool:
        flush = asyncio.create_task(step.flush(cp))
        await asyncio.sleep(0)  # the flush hands its work to the thread
        written_while_busy = client.all_written.wait(timeout=5)  # blocks the loop on purpose
        await flush
        return written_while_busy

    assert asyncio.run(scenario()), "a table waited for the event loop"
    assert client.inserted == [(ddl.TASK_EVENTS, 2), (ddl.LANE_EVENTS, 1), (ddl.REJECTS, 1)]
    assert cp.written == {ddl.TASK_EVENTS, ddl.LANE_EVENTS, ddl.REJECTS}
