"""The series names each service's registry can expose, derived from its declared families.

Labelled families have no samples until first used, so names come from each family's type.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry

from gpu_consumers.metrics import WorkerMetrics
from schemas import RouteLane
from streams.admission.metrics import AdmissionMetrics
from streams.audit.metrics import SinkMetrics
from streams.gateway.metrics import GatewayMetrics

REGISTRIES: dict[str, Callable[[], CollectorRegistry]] = {
    "admission": lambda: AdmissionMetrics().registry,
    "lane": lambda: WorkerMetrics(RouteLane.shared).registry,
    "audit_sink": lambda: SinkMetrics().registry,
    "gateway": lambda: GatewayMetrics().registry,
}
#: Series Prometheus itself adds to every scrape target.
SCRAPE_SERIES = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})
_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
    "info": ("_info",),
}


def series_names(registry: CollectorRegistry) -> set[str]:
    names: set[str] = set()
    for family in registry.collect():
        names |= {family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",))}
        names |= {sample.name for sample in family.samples}
    return names


def declared_series() -> dict[str, set[str]]:
    """service -> series names its /metrics can carry."""
    return {service: series_names(make()) for service, make in REGISTRIES.items()}
