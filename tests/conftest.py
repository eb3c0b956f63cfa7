"""Shared fixtures: a real Kafka-protocol broker and a real ClickHouse engine."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from schemas.topics import Topics
from streams import compiled
from tests.backends import external_clickhouse, external_kafka

# Tests never reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def pytest_sessionstart(session: pytest.Session) -> None:
    """An extension built before its source last changed would test code that is gone."""
    old = compiled.stale()
    if old:
        pytest.exit(f"compiled modules older than their sources: {', '.join(old)}; rebuild them "
                    "(`make install`) or run the pure-Python ones (`python -m streams.compiled clean`)",
                    returncode=2)


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`host:port` of a broker: FRAMEGATE_TEST_KAFKA, else a tansu broker we start and stop by pid."""
    external = external_kafka()
    if external:
        yield external
        return
    from streams.local_stack.broker import LocalBroker, free_port

    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    broker = LocalBroker(port=free_port(), log_path=log).start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def topics(kafka_bootstrap: str) -> Topics:
    """A fresh, created topic set under a unique prefix, so tests never see each other's records."""
    from streams.local_stack.topics import create_topics

    fresh = Topics(prefix=f"t{uuid.uuid4().hex[:10]}.")
    asyncio.run(create_topics(kafka_bootstrap, fresh))
    return fresh


@pytest.fixture(scope="session")
def clickhouse_dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    """FRAMEGATE_TEST_CLICKHOUSE, else chDB in a session directory.

    chDB allows one data directory per process, so the whole session shares one and tests
    isolate themselves by database (see `clickhouse_database`).
    """
    return external_clickhouse() or f"chdb://{tmp_path_factory.mktemp('chdb')}"


@pytest.fixture(scope="session")
def clickhouse_client(clickhouse_dsn: str) -> Iterator[Any]:
    from streams.clickhouse_client import connect

    client = connect(clickhouse_dsn)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def clickhouse_database(clickhouse_client: Any) -> Iterator[str]:
    """A fresh database for one test, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    clickhouse_client.command(f"CREATE DATABASE {name}")
    try:
        yield name
    finally:
        clickhouse_client.command(f"DROP DATABASE IF EXISTS {name}")
