"""A demo-like run with known secrets: no key, password or prompt in any log or metrics page.

The gateway (in-process, with an API key), admission (its own process, at info level) and the
audit sink (in-process, hmac prompt storage) handle a request whose prompt is a marker, with a
Kafka password in every service's settings. Everything they log (every logger, aiokafka's
included, at debug in-process) and every /metrics page they serve is searched for the API key,
the Kafka password, the prompt HMAC key and the prompt. ClickHouse holds the prompt's keyed hash.

tansu cannot authenticate (test_broker_security.py), so the Kafka password sits in the settings
without being sent; a client that does send one, refused by an authenticating tansu, is the
second test.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry, generate_latest
from pydantic import SecretStr

from schemas import ModelName, RouteLane
from schemas.broker_profile import BROKER_PROFILES
from schemas.client_logging import HIDDEN
from schemas.kafka_security import KafkaSecurity
from schemas.topics import Topics
from streams.audit.metrics import SinkMetrics
from streams.audit.migrations import migrate
from streams.audit.prompt_privacy import digest
from streams.audit.sink import AuditSink
from streams.gateway.auth import Scope, add_key
from streams.local_stack.broker import LocalBroker, free_port
from streams.local_stack.topics import create_topics
from tests.broker_io import publish_events
from tests.factories import heartbeat, request_body
from tests.integration.admission.harness import Agent
from tests.integration.audit.harness import running, sink_config
from tests.integration.gateway.server import gateway_settings, serve
from tests.waiting import wait_until

pytestmark = pytest.mark.integration
MARK = uuid.uuid4().hex[:12]
PROMPT = f"a lighthouse at dusk, private prompt {MARK}"
KAFKA_PASSWORD = f"kafka-password-{MARK}"
HMAC_KEY = f"prompt-hmac-key-{MARK}"


def secrets_in(text: str, secrets: dict[str, str]) -> list[str]:
    return [name for name, value in secrets.items() if value in text]


def debug_everywhere(caplog: pytest.LogCaptureFixture) -> None:
    """Debug level on the root logger and on the client libraries' own (an in-process CLI run
    of a one-shot command may have raised theirs); caplog restores them afterwards."""
    for name in (None, "aiokafka", "clickhouse_connect"):
        caplog.set_level(logging.DEBUG, logger=name)


def test_no_secret_in_logs_or_metrics(kafka_bootstrap: str, clickhouse_client: Any, clickhouse_dsn: str,
                                      clickhouse_database: str, tmp_path: Path,
                                      caplog: pytest.LogCaptureFixture) -> None:
    debug_everywhere(caplog)
    topics = Topics(prefix=f"leak{uuid.uuid4().hex[:8]}.")
    asyncio.run(create_topics(kafka_bootstrap, topics))
    publish_events(kafka_bootstrap, topics.events_lane,
                   [heartbeat(lane, worker=f"w-{lane.value}") for lane in RouteLane], "lanes")
    keys_file = tmp_path / "keys.json"
    api_key = add_key(keys_file, "submitter", {Scope.submit, Scope.read}, producer="batch")
    secrets = {"api key": api_key, "kafka password": KAFKA_PASSWORD, "hmac key": HMAC_KEY,
               "prompt": PROMPT}
    with_password = KafkaSecurity(password=SecretStr(KAFKA_PASSWORD))
    settings = gateway_settings(kafka_bootstrap, topics, keys_file, gateway_decision_timeout_s=30.0,
                                kafka_security=with_password)
    agent = Agent(kafka_bootstrap, topics, tmp_path / "admission",
                  extra_env={"FRAMEGATE_KAFKA_SECURITY__PASSWORD": KAFKA_PASSWORD})
    agent.data_dir.mkdir()
    migrate(clickhouse_client, clickhouse_database, heartbeat_ttl_days=14)
    sink_metrics = SinkMetrics(CollectorRegistry())
    sink = AuditSink(sink_config(kafka_bootstrap, topics, clickhouse_dsn, clickhouse_database,
                                 prompt_key=HMAC_KEY.encode(),
                                 broker=BROKER_PROFILES["tansu"].secured(with_password)),
                     metrics=sink_metrics)

    agent.launch("info").wait_ready()
    try:
        with serve(settings) as base:
            headers = {"Authorization": f"Bearer {api_key}"}

            def decided() -> bool:
                body = request_body(ModelName.phr00t, prompt=PROMPT, negative_prompt=PROMPT,
                                    task_id=f"leak-{uuid.uuid4().hex[:8]}")
                answer = httpx.post(f"{base}/v1/tasks", json=body, headers=headers, timeout=40)
                return answer.status_code != 503 or answer.json()["code"] != "decision_timeout"

            wait_until(decided, timeout_s=90, interval_s=0.5, what="admission deciding")
            # a refused body that quotes the prompt, and a wrong key
            too_long = request_body(ModelName.phr00t, prompt=PROMPT + "x" * 20_000)
            assert httpx.post(f"{base}/v1/tasks", json=too_long, headers=headers, timeout=40).status_code == 422
            assert httpx.post(f"{base}/v1/tasks", json=too_long,
                              headers={"Authorization": f"Bearer {api_key}x"}, timeout=40).status_code == 401
            gateway_metrics = httpx.get(f"{base}/metrics", timeout=10).text

            async def audit() -> None:
                async with running(sink):
                    await asyncio.to_thread(wait_until, lambda: sink.stats.rows >= 1, 60, 0.1,
                                            what="the sink storing the decision")
            asyncio.run(audit())
        admission_metrics = agent.metrics_text()
    finally:
        agent.stop()

    stored = clickhouse_client.query(
        f"SELECT request FROM {clickhouse_database}.admission_decisions").result_rows
    assert stored and all(PROMPT not in row[0] for row in stored)
    assert any(digest(HMAC_KEY.encode(), PROMPT) in row[0] for row in stored)

    logs = {"in-process logs": caplog.text, "admission log": agent.log_text()}
    metrics = {"gateway /metrics": gateway_metrics, "admission /metrics": admission_metrics,
               "sink metrics": generate_latest(sink_metrics.registry).decode()}
    assert "framegate_gateway" in gateway_metrics and "framegate_admission" in admission_metrics
    assert "aiokafka" in caplog.text  # the client libraries' own debug lines were captured
    assert HIDDEN in caplog.text  # aiokafka's per-record debug line ran, without the value
    for where, text in {**logs, **metrics}.items():
        assert text.strip(), where
        assert secrets_in(text, secrets) == [], where


def test_a_refused_client_neither_logs_nor_raises_its_password(tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    debug_everywhere(caplog)
    security = KafkaSecurity(protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-512",
                             username="gateway", password=SecretStr(KAFKA_PASSWORD))
    with LocalBroker(port=free_port(), log_path=tmp_path / "tansu.log", authentication=True) as broker:
        profile = BROKER_PROFILES["tansu"].secured(security)

        async def start() -> None:
            producer = AIOKafkaProducer(**profile.producer_kwargs(broker.bootstrap, request_timeout_ms=5_000))
            try:
                await asyncio.wait_for(producer.start(), 20)
            finally:
                await producer.stop()

        with pytest.raises(Exception) as refused:
            asyncio.run(start())
    shown = f"{refused.value!r} {refused.value} {refused.traceback}"
    assert KAFKA_PASSWORD not in shown
    assert caplog.text and KAFKA_PASSWORD not in caplog.text
    assert KAFKA_PASSWORD not in (tmp_path / "tansu.log").read_text(errors="replace")
