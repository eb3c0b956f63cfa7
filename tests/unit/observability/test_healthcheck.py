"""The container health probe against a real loopback HTTP server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from schemas.settings import Settings
from streams.healthcheck import candidate_urls, gauge_is_one, main


@pytest.fixture
def ready_server() -> Iterator[tuple[str, Gauge]]:
    registry = CollectorRegistry()
    ready = Gauge("framegate_admission_ready", "x", registry=registry)
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        yield f"http://127.0.0.1:{server.server_port}/metrics", ready
    finally:
        server.shutdown()
        thread.join(timeout=5)


def test_gauge_must_be_one(ready_server: tuple[str, Gauge]) -> None:
    url, ready = ready_server
    assert main([url]) == 0
    assert main([url, "--gauge", "framegate_admission_ready"]) == 1
    ready.set(1)
    assert main([url, "--gauge", "framegate_admission_ready"]) == 0
    assert main([url, "--gauge", "framegate_other"]) == 1


def test_nothing_listening_is_unhealthy() -> None:
    assert main(["http://127.0.0.1:9/metrics"]) == 1


def test_malformed_exposition_is_not_ready() -> None:
    assert not gauge_is_one("framegate_admission_ready{ 1\n", "framegate_admission_ready")
    assert gauge_is_one("framegate_admission_ready 1.0\n", "framegate_admission_ready")


def test_default_probe_covers_each_configured_service() -> None:
    urls = candidate_urls(Settings(gateway_port=8080, lane_metrics_port=9101, audit_metrics_port=0))
    assert urls == [
        "http://127.0.0.1:8080/healthz",
        "http://127.0.0.1:6066/metrics",
        "http://127.0.0.1:9101/metrics",
    ]
