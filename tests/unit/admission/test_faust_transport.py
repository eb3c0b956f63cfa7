"""The tansu fetch-wait workaround reaches the aiokafka consumer Faust builds for its worker."""

from __future__ import annotations

import asyncio
from pathlib import Path

from schemas.broker_profile import BROKER_PROFILES
from schemas.settings import Settings
from streams.admission.agent import build_app


def test_worker_consumer_uses_the_profile_fetch_wait(tmp_path: Path) -> None:
    settings = Settings(kafka_bootstrap="127.0.0.1:1", data_dir=tmp_path, broker_profile="tansu")
    app, _ = build_app(settings)

    async def created_wait() -> int:
        consumer = app.consumer._thread._create_worker_consumer(app.transport)  # type: ignore[attr-defined]
        # aiokafka's start() builds its Fetcher from this attribute (Faust passed 1500).
        return int(consumer._fetch_max_wait_ms)

    assert asyncio.run(created_wait()) == BROKER_PROFILES["tansu"].fetch_max_wait_ms == 10
