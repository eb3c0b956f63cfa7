"""Every message type through the real broker, read back intact by a consumer group.

The consumer group is the subject here (its commit, and a new member starting after it), so this
test builds its consumers itself; records go out through `tests.broker_io`."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from pydantic import BaseModel

from schemas import Topics
from schemas.wire import decode
from streams.local_stack.broker import free_port, port_open
from streams.local_stack.topics import create_topics, describe_partitions
from tests import factories
from tests.broker_io import PROFILE, publish
from tests.waiting import wait_until

pytestmark = pytest.mark.integration


async def _round_trip(bootstrap: str, topics: Topics) -> None:
    messages: list[BaseModel] = factories.one_of_each()
    topic = topics.events_memory  # one partition: order is total
    await publish(bootstrap, [(topic, type(m).__name__.encode(), m.model_dump_json().encode()) for m in messages],
                  one_at_a_time=True)

    group = f"{topics.prefix}roundtrip"
    consumer = AIOKafkaConsumer(topic, **PROFILE.consumer_kwargs(bootstrap, group))
    await consumer.start()
    try:
        received: list[ConsumerRecord[bytes, bytes]] = []
        async with asyncio.timeout(30):
            while len(received) < len(messages):
                batch = await consumer.getmany(timeout_ms=200)
                received += [record for records in batch.values() for record in records]
        await consumer.commit()
        committed = await consumer.committed(TopicPartition(topic, 0))
    finally:
        await consumer.stop()

    assert committed == len(messages)
    for original, record in zip(messages, received, strict=True):
        assert record.key == type(original).__name__.encode()
        assert decode(type(original), record.value) == original

    # a new consumer of the same group starts after the committed offset: nothing is redelivered
    again = AIOKafkaConsumer(topic, **PROFILE.consumer_kwargs(bootstrap, group))
    await again.start()
    try:
        await again.getmany(timeout_ms=500)
        position = await again.position(TopicPartition(topic, 0))
    finally:
        await again.stop()
    assert position == len(messages)


def test_every_message_type_round_trips(kafka_bootstrap: str, topics: Topics) -> None:
    asyncio.run(_round_trip(kafka_bootstrap, topics))


def test_topics_created_with_partition_counts_and_idempotent(kafka_bootstrap: str) -> None:
    fresh = Topics(prefix=f"idem{uuid.uuid4().hex[:8]}.")
    first = asyncio.run(create_topics(kafka_bootstrap, fresh))
    second = asyncio.run(create_topics(kafka_bootstrap, fresh))
    assert set(first.values()) == {"created"}
    assert set(second.values()) == {"exists"}
    wanted = fresh.partitions()
    assert asyncio.run(describe_partitions(kafka_bootstrap, list(wanted))) == wanted


def test_cli_broker_starts_creates_topics_and_stops_on_sigterm(tmp_path: object) -> None:
    port = free_port()
    prefix = f"cli{uuid.uuid4().hex[:8]}."
    env = {**os.environ, "FRAMEGATE_BROKER_PORT": str(port), "FRAMEGATE_TOPIC_PREFIX": prefix}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "broker"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    counts = Topics(prefix=prefix).partitions()
    try:
        # the CLI says when it created the topics; then the broker must report them as created
        wait_until(
            lambda: any(line.startswith("topics:") for line in lines) or proc.poll() is not None,
            timeout_s=90,
            what="the CLI's topics line",
        )
        assert proc.poll() is None, "".join(lines)
        assert asyncio.run(describe_partitions(f"127.0.0.1:{port}", list(counts))) == counts
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
        reader.join(timeout=5)
    output = "".join(lines)
    assert proc.returncode == 0, output
    assert f"broker listening on 127.0.0.1:{port}" in output and "broker stopped" in output
    assert not port_open("127.0.0.1", port)
