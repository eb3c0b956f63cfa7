"""Clients that authenticate and encrypt, built from a secured broker profile: what the broker
security tests (tansu's and Apache Kafka's) start, write with and read back with. Every step is
bounded, since a refused or unanswered handshake otherwise hangs."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from schemas.broker_profile import BrokerProfile


async def start_producer(bootstrap: str, profile: BrokerProfile, bound_s: float) -> None:
    """Start (and stop) a producer: raises what the broker answers to its credentials."""
    producer = AIOKafkaProducer(**profile.producer_kwargs(bootstrap, request_timeout_ms=5_000))
    try:
        await asyncio.wait_for(producer.start(), bound_s)
    finally:
        await producer.stop()


async def produce_one(bootstrap: str, profile: BrokerProfile, topic: str, value: bytes, bound_s: float) -> None:
    producer = AIOKafkaProducer(**profile.producer_kwargs(bootstrap, request_timeout_ms=10_000))
    await asyncio.wait_for(producer.start(), bound_s)
    try:
        await asyncio.wait_for(producer.send_and_wait(topic, value), bound_s)
    finally:
        await producer.stop()


async def read_back(bootstrap: str, profile: BrokerProfile, topic: str, bound_s: float,
                    wait_ms: int = 10_000) -> list[bytes]:
    """The values of partition 0 of `topic`, from its beginning (one fetch)."""
    consumer = AIOKafkaConsumer(**profile.consumer_kwargs(bootstrap, None))
    await asyncio.wait_for(consumer.start(), bound_s)
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        batch = await consumer.getmany(tp, timeout_ms=wait_ms)
        return [record.value for record in batch.get(tp, []) if record.value is not None]
    finally:
        await consumer.stop()
