"""Creates every framegate topic with its partition count; safe to run again."""

from __future__ import annotations

import contextlib

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from schemas.kafka_security import KafkaSecurity
from schemas.topics import Topics

PLAINTEXT = KafkaSecurity()


async def create_topics(bootstrap: str, topics: Topics, replication: int = 1,
                        security: KafkaSecurity = PLAINTEXT) -> dict[str, str]:
    """Returns topic -> `created` | `exists`. Existing topics are left as they are."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=10_000, **security.aiokafka_kwargs()
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = topics.partitions()
        compacted = topics.compacted()
        missing = [
            NewTopic(name, n, replication,
                     topic_configs={"cleanup.policy": "compact"} if name in compacted else None)
            for name, n in wanted.items() if name not in existing
        ]
        if missing:
            # another creator may win the race; the outcome is the same
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
        return {name: ("exists" if name in existing else "created") for name in wanted}
    finally:
        await admin.close()


async def describe_partitions(bootstrap: str, names: list[str],
                              security: KafkaSecurity = PLAINTEXT) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **security.aiokafka_kwargs())
    await admin.start()
    try:
        described = await admin.describe_topics(names)
        return {d["topic"]: len(d["partitions"]) for d in described}
    finally:
        await admin.close()
