"""Every service registry carries the process/Python collectors and one build-info gauge."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from schemas.service_metrics import BUILD_INFO, register_runtime_metrics
from tests.unit.observability.declared_metrics import REGISTRIES


@pytest.mark.parametrize("service", sorted(REGISTRIES))
def test_service_registry_has_runtime_and_build_info(service: str) -> None:
    text = generate_latest(REGISTRIES[service]()).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert "process_resident_memory_bytes" in families
    assert "process_cpu_seconds" in families
    assert "python_info" in families
    assert "python_gc_objects_collected" in families
    (sample,) = families[BUILD_INFO].samples
    assert sample.value == 1
    assert sample.labels["service"] == service
    assert sample.labels["version"] and sample.labels["python_version"]


def test_the_global_registry_gets_only_build_info() -> None:
    # prometheus_client already put the process collectors there; a second set would be refused.
    build_info = register_runtime_metrics(REGISTRY, "audit_sink")
    try:
        text = generate_latest(REGISTRY).decode()
    finally:
        REGISTRY.unregister(build_info)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families[BUILD_INFO].samples[0].labels["service"] == "audit_sink"
    assert "process_cpu_seconds" in families


def test_unknown_service_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown service"):
        register_runtime_metrics(CollectorRegistry(), "admision")
