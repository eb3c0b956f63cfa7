"""`make test-docker`: the integration suite against Apache Kafka and a ClickHouse server.

Starts both through testcontainers, then runs pytest on `tests/integration` (or the arguments
given) with the services' settings pointed at them: `FRAMEGATE_TEST_KAFKA`,
`FRAMEGATE_TEST_CLICKHOUSE` and `FRAMEGATE_BROKER_PROFILE=kafka`, so every one of the local
broker's workarounds is off and the quirk-free path of `schemas.log_tail` is the one proven.
Where no Docker engine answers it says so and exits 0 (a skip, as the Docker tests do).
"""

from __future__ import annotations

import os
import subprocess
import sys

from tests.backends import docker_engine_answers


def main(argv: list[str]) -> int:
    if not docker_engine_answers():
        print("test-docker: skipped, no Docker engine answers here")
        return 0
    from testcontainers.clickhouse import ClickHouseContainer
    from testcontainers.kafka import KafkaContainer

    with KafkaContainer().with_kraft() as kafka, ClickHouseContainer() as clickhouse:
        host, port = clickhouse.get_container_host_ip(), clickhouse.get_exposed_port(8123)
        env = {
            **os.environ,
            "FRAMEGATE_TEST_KAFKA": kafka.get_bootstrap_server(),
            "FRAMEGATE_TEST_CLICKHOUSE": f"http://{clickhouse.username}:{clickhouse.password}@{host}:{port}/default",
            "FRAMEGATE_BROKER_PROFILE": "kafka",
        }
        args = argv or ["tests/integration"]
        return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
