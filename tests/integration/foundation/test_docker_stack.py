"""The same round trips against Apache Kafka and a ClickHouse server via testcontainers.

Skips cleanly where no Docker engine answers (as on the development and CI machines).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from schemas import Topics
from streams.local_stack.topics import create_topics
from tests.backends import docker_engine_answers

pytestmark = [
    pytest.mark.docker,
    pytest.mark.integration,
    pytest.mark.skipif(not docker_engine_answers(), reason="no Docker engine answers here"),
]


@pytest.fixture(scope="module")
def apache_kafka() -> Iterator[str]:
    from testcontainers.kafka import KafkaContainer

    with KafkaContainer().with_kraft() as kafka:
        yield kafka.get_bootstrap_server()


@pytest.fixture(scope="module")
def clickhouse_server() -> Iterator[Any]:
    from testcontainers.clickhouse import ClickHouseContainer

    from streams.clickhouse_client import connect

    with ClickHouseContainer() as server:
        host, port = server.get_container_host_ip(), server.get_exposed_port(8123)
        yield connect(f"http://{server.username}:{server.password}@{host}:{port}/default")


def test_topics_and_round_trip_on_apache_kafka(apache_kafka: str) -> None:
    from tests.integration.foundation.test_broker_roundtrip import _round_trip

    topics = Topics(prefix=f"d{uuid.uuid4().hex[:8]}.")
    asyncio.run(create_topics(apache_kafka, topics))
    asyncio.run(_round_trip(apache_kafka, topics))


def test_row_on_clickhouse_server(clickhouse_server: Any) -> None:
    clickhouse_server.command(
        "CREATE TABLE IF NOT EXISTS probe (x UInt8) ENGINE = MergeTree ORDER BY x"
    )
    clickhouse_server.insert("probe", [[7]], column_names=["x"])
    assert clickhouse_server.query("SELECT x FROM probe").result_rows == [(7,)]
