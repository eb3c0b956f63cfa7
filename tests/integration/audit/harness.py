"""Runs the real audit sink in-process (chDB allows one data directory per process)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

from schemas.topics import Topics
from streams.audit.sink import AuditSink, SinkConfig
from tests.backends import broker_profile
from tests.broker_io import committed


def sink_config(bootstrap: str, topics: Topics, dsn: str, database: str, **overrides: object) -> SinkConfig:
    config = SinkConfig(
        bootstrap=bootstrap, topics=topics, dsn=dsn, database=database,
        group_id=f"{topics.prefix}audit-{uuid.uuid4().hex[:6]}", broker=broker_profile(),
        batch_max_rows=500, batch_max_seconds=0.2, retry_initial_s=0.1, retry_max_s=0.5,
    )
    return replace(config, **overrides)  # type: ignore[arg-type]


@asynccontextmanager
async def running(sink: AuditSink, crash: bool = False) -> AsyncIterator[asyncio.Task[None]]:
    """Yields the sink's task; on exit stops it gracefully, or cancels it (`crash=True`)."""
    stop = asyncio.Event()
    task = asyncio.create_task(sink.run(stop))
    try:
        yield task
    finally:
        if crash:
            task.cancel()
        stop.set()
        try:
            await asyncio.wait_for(task, timeout=30)
        except asyncio.CancelledError:
            if not crash:
                raise



async def committed_total(config: SinkConfig) -> int:
    """Sum of the sink group's committed offsets over the audited topics: with offsets counted
    from 0 in every partition, the number of records committed. (tansu's end offsets are not
    reliable for multi-record batches, so the records' own count is the reference.)"""
    return sum((await committed(config.bootstrap, config.group_id, config.topics.audited())).values())
