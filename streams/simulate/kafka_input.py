"""History from the Kafka logs themselves (`--from-kafka`), for set-ups without the audit sink.

Every record carries its log time, which orders the three inputs the way the agent received
them more closely than the events' own `occurred_at`. The request bytes are kept and parsed
by the admission parser, bad ones included.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from schemas import AdmissionDecision, GenerationRequest, LaneEvent, TaskEvent
from schemas.log_tail import LogTail
from schemas.settings import Settings
from schemas.wire import PayloadTooLarge, decode
from streams.cli_failures import kafka, kafka_failure
from streams.simulate.errors import SimulateError
from streams.simulate.history import Arrival, History, TimedEvent
from streams.simulate.reconstruct import AUTHORISED_PRODUCER, UNAUTHORISED_PRODUCER, as_recorded
from streams.simulate.window import WARMUP_S, Window


@dataclass(frozen=True)
class LogRecord:
    topic: str
    partition: int
    offset: int
    ts: float
    value: bytes | None


async def read_logs(settings: Settings, topics: list[str], timeout_s: float) -> list[LogRecord]:
    consumer = AIOKafkaConsumer(**settings.broker.consumer_kwargs(settings.kafka_bootstrap, None,
                                                                  enable_auto_commit=False))
    tail = LogTail(consumer, settings.broker)
    out: list[LogRecord] = []

    def keep(tp: TopicPartition, records: Sequence[Any]) -> None:
        out.extend(LogRecord(tp.topic, tp.partition, r.offset, r.timestamp / 1000.0, r.value) for r in records)

    try:
        await consumer.start()
        parts = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or {0})]
        consumer.assign(parts)
        await tail.seek_to_beginning(parts)
        if await tail.read_to_end(keep, timeout_s):
            return out
        raise SimulateError(f"reading the Kafka logs did not reach their end within {timeout_s:g}s")
    finally:
        await consumer.stop()


def read_kafka(settings: Settings, window: Window) -> History:
    t = settings.topics
    names = [t.tasks_requested, t.tasks_accepted, t.tasks_rejected, t.events_task, t.events_lane]
    try:
        records = asyncio.run(read_logs(settings, names, settings.admission_rebuild_timeout_s))
    except (KafkaError, OSError) as exc:
        failure = kafka_failure(exc, kafka(settings.kafka_bootstrap))
        if failure is not None:  # one line and exit 3/4 at the entry point, like every command
            raise failure from None
        raise SimulateError(f"cannot read the Kafka logs at {settings.kafka_bootstrap}: "
                            f"{type(exc).__name__}: {exc}") from None
    return history_from_records(records, settings, window)


def _decoded(kind: type, value: bytes | None) -> object | None:
    if value is None:
        return None
    try:
        return decode(kind, value)
    except (ValidationError, PayloadTooLarge):
        return None  # the agent skips these too (counted there as invalid events)


def history_from_records(records: list[LogRecord], settings: Settings, window: Window) -> History:
    t = settings.topics
    history = History(origin=f"kafka {settings.kafka_bootstrap}", start=0.0, end=0.0)
    warm_from = window.start.timestamp() - WARMUP_S if window.start else None
    end = window.end.timestamp() if window.end else None
    requests: list[LogRecord] = []
    for rec in sorted(records, key=lambda r: (r.topic, r.partition, r.offset)):
        if end is not None and rec.ts >= end:
            continue
        at = datetime.fromtimestamp(rec.ts, UTC)
        if rec.topic == t.tasks_requested:
            if window.contains(at):
                requests.append(rec)
        elif rec.topic in (t.tasks_accepted, t.tasks_rejected):
            decision = _decoded(AdmissionDecision, rec.value)
            if not isinstance(decision, AdmissionDecision):
                continue
            recorded = as_recorded(decision)
            # A preemption carries the source of the request that pushed it out: it is the
            # victim's decision, not that request's.
            if recorded.reason == "preempted" and recorded.task_id is not None:
                history.preemptions[recorded.task_id] = recorded
            elif recorded.source is not None:
                history.decisions.setdefault(recorded.source, recorded)
        elif rec.topic == t.events_task:
            if warm_from is None or rec.ts >= warm_from:
                event = _decoded(TaskEvent, rec.value)
                if isinstance(event, TaskEvent):
                    history.task_events.append(TimedEvent(rec.ts, event, rec.offset))
        elif rec.topic == t.events_lane:
            event = _decoded(LaneEvent, rec.value)
            if isinstance(event, LaneEvent):
                old_beat = warm_from is not None and rec.ts < warm_from and event.event_type.value == "heartbeat"
                if not old_beat:
                    history.lane_events.append(TimedEvent(rec.ts, event, rec.offset))
    if not requests:
        raise SimulateError(f"empty window: no records on {t.tasks_requested} between "
                            f"{window.start or 'the beginning'} and {window.end or 'now'}")
    # Decisions of requests outside the window are not compared.
    inside = {(r.partition, r.offset) for r in requests}
    history.decisions = {k: v for k, v in history.decisions.items() if k in inside}
    history.preemptions = {k: v for k, v in history.preemptions.items() if window.contains(v.at)}
    for rec in requests:
        at = datetime.fromtimestamp(rec.ts, UTC)
        request = _decoded(GenerationRequest, rec.value)
        answer = history.decisions.get((rec.partition, rec.offset))
        if isinstance(request, GenerationRequest) and request.priority.value == "critical" and answer is not None:
            # Authorisation never depends on capacity: keep the recorded answer (see reconstruct).
            refused = answer.code == "priority_not_authorised"
            request = request.model_copy(update={"producer": UNAUTHORISED_PRODUCER if refused else AUTHORISED_PRODUCER})
            payload = request.to_wire()
        else:
            payload = rec.value if rec.value is not None else b""
        history.arrivals.append(Arrival(
            ts=rec.ts, at=at, partition=rec.partition, offset=rec.offset,
            request=request if isinstance(request, GenerationRequest) else None, payload=payload))
    # Each log stays in its own (offset) order: that is the order the agent folds it in.
    times = [a.ts for a in history.arrivals]
    history.start = window.start.timestamp() if window.start else min(times)
    history.end = end if end is not None else max(times + [e.ts for e in history.task_events])
    return history
