"""Start-up rebuild: fold the decision and event logs into a fresh `AdmissionState`.

State lives in memory, not in Faust tables: tansu's wrong latest-offset answer makes changelog
recovery under-count, and every input we need is already in the logs. Reading stops once every
partition reached its reported end AND a poll came back empty, so an under-reported end (tansu)
only costs one extra poll instead of silently dropping the tail.
"""

from __future__ import annotations

import logging
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from schemas import AdmissionDecision, LaneEvent, TaskEvent, Topics
from schemas.broker_profile import BrokerProfile
from schemas.wire import PayloadTooLarge, decode
from streams.admission.state import AdmissionState, fold_decision, fold_lane_event, fold_task_event

log = logging.getLogger(__name__)


async def rebuild(
    state: AdmissionState, bootstrap: str, topics: Topics, profile: BrokerProfile, timeout_s: float
) -> int:
    """Folds every record of the four logs into `state`; returns how many were read."""
    names = [topics.events_lane, topics.events_task, topics.tasks_accepted, topics.tasks_rejected]
    consumer = AIOKafkaConsumer(**profile.consumer_kwargs(bootstrap, None, enable_auto_commit=False))
    await consumer.start()
    read = 0
    try:
        parts = [
            TopicPartition(name, p)
            for name in names
            for p in sorted(consumer.partitions_for_topic(name) or {0})
        ]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=250, max_records=5000)
            for tp, records in batch.items():
                for record in records:
                    read += 1
                    fold_record(state, topics, tp.topic, record.offset, record.value)
            if not batch:
                positions = {tp: await consumer.position(tp) for tp in parts}
                if all(positions[tp] >= ends[tp] for tp in parts):
                    return read
        raise TimeoutError(f"start-up rebuild did not reach the end of the logs in {timeout_s}s")
    finally:
        await consumer.stop()


def fold_record(state: AdmissionState, topics: Topics, topic: str, offset: int, value: bytes | None) -> None:
    if value is None:
        return
    try:
        if topic == topics.events_lane:
            if state.claim_position(topic, offset):
                fold_lane_event(state, decode(LaneEvent, value))
        elif topic == topics.events_task:
            if state.claim_position(topic, offset):
                fold_task_event(state, decode(TaskEvent, value))
        else:
            fold_decision(state, decode(AdmissionDecision, value))
    except (ValidationError, PayloadTooLarge) as exc:
        log.warning("skipping unreadable record %s@%d: %s", topic, offset, exc)
