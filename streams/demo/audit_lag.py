"""Waits until the audit sink's committed offsets reach the end of every audited topic."""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.settings import Settings


class AuditLagTimeout(TimeoutError):
    pass


async def audit_lag(bootstrap: str, settings: Settings) -> int:
    """Records on audited topics not yet committed by the sink's consumer group."""
    consumer = AIOKafkaConsumer(
        **settings.broker.consumer_kwargs(bootstrap, settings.audit_group_id)
    )
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in settings.topics.audited()
            for p in sorted(consumer.partitions_for_topic(topic) or {0})
        ]
        ends = await consumer.end_offsets(partitions)
        lag = 0
        for tp in partitions:
            committed = await consumer.committed(tp) or 0
            lag += max(0, ends[tp] - committed)
        return lag
    finally:
        await consumer.stop()


async def wait_audit_caught_up(bootstrap: str, settings: Settings, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while (lag := await audit_lag(bootstrap, settings)) > 0:
        if time.monotonic() > deadline:
            raise AuditLagTimeout(f"audit sink still {lag} records behind after {timeout_s:.0f}s")
        await asyncio.sleep(0.5)
