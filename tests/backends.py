"""Where integration tests find Kafka and ClickHouse.

Order: `FRAMEGATE_TEST_KAFKA` / `FRAMEGATE_TEST_CLICKHOUSE` if set; otherwise the embedded
stack (tansu broker on a free loopback port, chDB in a temporary directory). The Docker path
(testcontainers: Apache Kafka, ClickHouse server) is `make test-docker` (`tests/docker_suite.py`:
the integration suite against both, on the `kafka` broker profile) and
`tests/integration/foundation/test_docker_stack.py`; both skip where no Docker engine answers.
"""

from __future__ import annotations

import os

from schemas.broker_profile import BrokerProfile
from schemas.settings import load_settings


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
    """The broker profile of this test run, as the services under test read it (the settings'
    `broker_profile`: the local broker's by default, `kafka` under `make test-docker`)."""
    return load_settings().broker
