"""Where integration tests find Kafka and ClickHouse.

Order: `FRAMEGATE_TEST_KAFKA` / `FRAMEGATE_TEST_CLICKHOUSE` if set; otherwise the embedded
stack (tansu broker on a free loopback port, chDB in a temporary directory). The Docker path
(testcontainers: Apache Kafka, ClickHouse server) lives in `tests/integration/test_docker_stack.py`
and skips where no Docker engine answers.
"""

from __future__ import annotations

import os

from schemas.broker_profile import BROKER_PROFILES, BrokerProfile


def docker_engine_answers() -> bool:
    """True only if a Docker daemon responds to a ping (the CLI alone is not enough)."""
    try:
        import docker  # type: ignore[import-untyped]
    except ImportError:
        return False
    try:
        client = docker.from_env(timeout=3)
        client.ping()
    except Exception:
        return False
    return True


def external_kafka() -> str | None:
    return os.environ.get("FRAMEGATE_TEST_KAFKA") or None


def external_clickhouse() -> str | None:
    return os.environ.get("FRAMEGATE_TEST_CLICKHOUSE") or None


def broker_profile() -> BrokerProfile:
    """The broker profile of this test run: `FRAMEGATE_TEST_BROKER_PROFILE` (`make test-docker`
    sets `kafka`), else the local broker's."""
    return BROKER_PROFILES[os.environ.get("FRAMEGATE_TEST_BROKER_PROFILE") or "tansu"]
