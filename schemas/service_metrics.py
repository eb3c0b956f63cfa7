"""Metrics every framegate service exposes besides its own: process, Python runtime, build info.

Each service keeps its metrics on a registry of its own (several run in one process in tests and
the demo), so the standard collectors that `prometheus_client` puts on its global registry are
added to each service registry here, next to one `framegate_build_info` gauge.
"""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Gauge,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
)

BUILD_INFO = "framegate_build_info"
#: Values of the `service` label of `framegate_build_info`, one per service kind.
SERVICES = ("admission", "lane", "audit_sink", "gateway")


def framegate_version() -> str:
    try:
        return version("framegate")
    except PackageNotFoundError:
        return "unknown"


def register_runtime_metrics(registry: CollectorRegistry, service: str) -> Gauge:
    """Add `process_*`, `python_*` and `framegate_build_info{service=...}` to `registry`."""
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}; one of {SERVICES}")
    if registry is not REGISTRY:
        # prometheus_client registers these three on its global registry at import.
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
    build_info = Gauge(
        BUILD_INFO,
        "Always 1; labels name the service, the framegate release and the Python version.",
        ["service", "version", "python_version"],
        registry=registry,
    )
    build_info.labels(
        service=service, version=framegate_version(), python_version=platform.python_version()
    ).set(1)
    return build_info
