"""The admission app runs on Faust's public API with Faust's Kafka client off; its request
intake gets the broker profile's consumer settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.broker_profile import BROKER_PROFILES
from schemas.settings import Settings
from streams.admission.agent import build_app


@pytest.mark.parametrize("profile", ["tansu", "kafka"])
def test_faust_starts_web_and_timers_but_no_kafka_client(tmp_path: Path, profile: str) -> None:
    settings = Settings(kafka_bootstrap="127.0.0.1:1", data_dir=tmp_path, broker_profile=profile)
    app, service = build_app(settings)
    boot = app.boot_strategy
    assert list(boot.kafka_consumer()) == [] and list(boot.kafka_conductor()) == []
    assert list(boot.kafka_producer()) == [] and list(boot.tables()) == []
    assert list(boot.web_server())  # /metrics and /healthz are still served by Faust
    kwargs = service.intake.consumer_kwargs
    assert kwargs["fetch_max_wait_ms"] == BROKER_PROFILES[profile].fetch_max_wait_ms
    assert kwargs["group_id"] == settings.resolved_admission_app_id
    assert kwargs["enable_auto_commit"] is False
    assert service.intake.profile == settings.broker  # holes read again only where it says so
