"""Every Kafka client framegate builds from settings carries the settings' security.

Each construction site is driven through its public entry point with a recording stand-in for
the aiokafka client constructors (no broker is involved: the point is what the client would be
given), plus a source scan that fails when a new site builds a client without the helpers.
"""

from __future__ import annotations

import ast
import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, cast

import aiokafka
import aiokafka.admin
import pytest
from pydantic import SecretStr

from schemas.enums import RouteLane
from schemas.kafka_security import KafkaSecurity
from schemas.settings import Settings

ROOT = Path(__file__).parents[3]
SECRET = "pw-site-4d2e"
SECURITY = KafkaSecurity(protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-256",
                         username="svc", password=SecretStr(SECRET))
CLIENTS = ("AIOKafkaConsumer", "AIOKafkaProducer", "AIOKafkaAdminClient")


class Built(Exception):
    """Raised by the stand-in constructor once it has seen the client's configuration."""

    def __init__(self, kind: str, kwargs: dict[str, Any]) -> None:
        super().__init__(kind)
        self.kind, self.kwargs = kind, kwargs


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for owner, name in ((aiokafka.AIOKafkaConsumer, "consumer"),
                        (aiokafka.AIOKafkaProducer, "producer"),
                        (aiokafka.admin.AIOKafkaAdminClient, "admin")):
        def record(self: object, *args: Any, _kind: str = name, **kwargs: Any) -> None:
            raise Built(_kind, kwargs)
        monkeypatch.setattr(owner, "__init__", record)
    yield


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(kafka_security=SECURITY, data_dir=tmp_path,
                    clickhouse_dsn=f"chdb://{tmp_path / 'ch'}")


def carried(kwargs: dict[str, Any]) -> bool:
    return (kwargs.get("security_protocol") == "SASL_PLAINTEXT"
            and kwargs.get("sasl_mechanism") == "SCRAM-SHA-256"
            and kwargs.get("sasl_plain_username") == "svc"
            and kwargs.get("sasl_plain_password") == SECRET)


def expect_built(start: Callable[[], Awaitable[object]], kind: str) -> None:
    with pytest.raises(Built) as caught:
        asyncio.run(asyncio.wait_for(cast(Any, start()), 30))
    assert caught.value.kind == kind
    assert carried(caught.value.kwargs), caught.value.kwargs


def test_profile_helpers_carry_security(settings: Settings) -> None:
    broker = settings.broker
    for kwargs in (broker.consumer_kwargs("h:1", "g"), broker.producer_kwargs("h:1"),
                   broker.admin_kwargs("h:1")):
        assert carried(kwargs)


def test_gateway_publisher(built: None, settings: Settings) -> None:
    from streams.gateway.publisher import RequestPublisher
    from tests.factories import request

    expect_built(lambda: RequestPublisher(settings).publish(request()), "producer")


def test_gateway_feed(built: None, settings: Settings) -> None:
    from streams.gateway.feed import GatewayFeed

    none = cast(Any, None)
    expect_built(lambda: GatewayFeed(settings, none, none, none).run(), "consumer")


def test_audit_sink(built: None, settings: Settings, clickhouse_dsn: str, clickhouse_database: str) -> None:
    from streams.audit.sink import sink_from_settings

    # The sink opens ClickHouse before it builds its consumer: the session's engine (one chDB
    # path per process), in a database of this test's own.
    on_session_clickhouse = settings.model_copy(update={"clickhouse_dsn": clickhouse_dsn,
                                                        "audit_database": clickhouse_database})
    expect_built(lambda: sink_from_settings(on_session_clickhouse).run(asyncio.Event()), "consumer")


def test_simulate_from_kafka(built: None, settings: Settings) -> None:
    from streams.simulate.kafka_input import read_logs

    expect_built(lambda: read_logs(settings, [settings.topics.events_task], 1.0), "consumer")


def test_lane_commands(built: None, settings: Settings) -> None:
    from schemas.enums import LaneMode
    from streams.admission.operator import run_lane_command

    expect_built(lambda: run_lane_command(settings, "anisora", LaneMode.dedicated, None), "consumer")


def test_topics_create(built: None, settings: Settings) -> None:
    from streams.local_stack.topics import create_topics

    expect_built(lambda: create_topics("h:1", settings.topics, security=settings.kafka_security),
                 "admin")


def test_admission_follower_and_producer(built: None, settings: Settings) -> None:
    from streams.admission.agent import build_app
    from streams.admission.follower import LogFollower

    follower = LogFollower(cast(Any, None), settings.kafka_bootstrap, settings.topics, settings.broker)
    assert carried(follower.kwargs)
    _app, service = build_app(settings)
    expect_built(service.start, "producer")


def test_demo_audit_lag(built: None, settings: Settings) -> None:
    from streams.demo.audit_lag import audit_lag

    expect_built(lambda: audit_lag("h:1", settings), "consumer")


def test_lane_worker(settings: Settings) -> None:
    # LaneWorker.run builds its clients from these (the scan below holds it to them); making a
    # worker loads torch, which costs seconds this check does not need
    from gpu_consumers.worker import group_id, producer_config

    assert carried(producer_config(settings.broker, settings.kafka_bootstrap))
    assert carried(settings.broker.consumer_kwargs(settings.kafka_bootstrap, group_id(RouteLane.shared)))


def _client_calls(path: Path) -> Iterator[ast.Call]:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name in CLIENTS:
                yield node


def _from_helpers(call: ast.Call) -> bool:
    """The call expands a helper's kwargs (`**profile.consumer_kwargs(...)`, `**kwargs`)."""
    helpers = {"consumer_kwargs", "producer_kwargs", "admin_kwargs", "producer_config",
               "aiokafka_kwargs"}
    for keyword in call.keywords:
        if keyword.arg is not None:
            continue
        value = keyword.value
        if isinstance(value, ast.Call):
            func = value.func
            if (func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)) in helpers:
                return True
        if isinstance(value, ast.Name | ast.Attribute):
            return True  # a kwargs dict built by a helper elsewhere (follower, task ledger)
    return False


def test_no_client_is_built_without_the_helpers() -> None:
    sites = [(path, call) for package in ("streams", "gpu_consumers")
             for path in sorted((ROOT / package).rglob("*.py")) for call in _client_calls(path)]
    assert len(sites) >= 12  # the scan sees the sites it guards
    bare = [f"{path.relative_to(ROOT)}:{call.lineno}" for path, call in sites if not _from_helpers(call)]
    assert bare == []
