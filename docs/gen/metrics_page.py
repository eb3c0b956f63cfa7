"""docs/reference/metrics.md: every metric family each service's Prometheus registry declares."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry

from docs.gen.markdown import banner, code, table
from gpu_consumers.metrics import WorkerMetrics
from schemas import RouteLane
from streams.admission.metrics import AdmissionMetrics
from streams.audit.metrics import SinkMetrics
from streams.gateway.metrics import GatewayMetrics

PAGE = "reference/metrics.md"
ROOT = Path(__file__).resolve().parents[2]
#: service -> (where its metrics are declared, its registry, where /metrics is served)
SERVICES: dict[str, tuple[str, Callable[[], CollectorRegistry], str]] = {
    "admission": ("streams/admission/metrics.py", lambda: AdmissionMetrics().registry,
                  "`FRAMEGATE_ADMISSION_WEB_PORT` (6066)"),
    "lane workers": ("gpu_consumers/metrics.py",
                     lambda: WorkerMetrics(RouteLane.shared).registry,
                     "`FRAMEGATE_LANE_METRICS_PORT` (off when unset)"),
    "audit sink": ("streams/audit/metrics.py", lambda: SinkMetrics().registry,
                   "`FRAMEGATE_AUDIT_METRICS_PORT` (0 = off)"),
    "gateway": ("streams/gateway/metrics.py", lambda: GatewayMetrics().registry,
                "`FRAMEGATE_GATEWAY_PORT` (8080), `/metrics`"),
}
_SUFFIX = {"counter": "_total", "info": "_info"}
_KINDS = {"Counter", "Gauge", "Histogram", "Summary", "Info", "Enum"}


def declared_labels(*sources: str) -> dict[str, list[str]]:
    """family name -> label names, read from the `Counter("name", "help", [labels])` calls."""
    labels: dict[str, list[str]] = {}
    for source in sources:
        for node in ast.walk(ast.parse((ROOT / source).read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in _KINDS and node.args):
                continue
            name = node.args[0]
            if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
                continue
            given = node.args[2] if len(node.args) > 2 else next(
                (k.value for k in node.keywords if k.arg == "labelnames"), None)
            if isinstance(given, ast.List | ast.Tuple):
                labels[name.value] = [
                    e.value for e in given.elts
                    if isinstance(e, ast.Constant) and isinstance(e.value, str)
                ]
    return labels


def _rows(registry: CollectorRegistry, labels: dict[str, list[str]], own: bool) -> list[list[str]]:
    rows = []
    for family in registry.collect():
        if family.name.startswith("framegate_") != own:
            continue
        name = family.name + _SUFFIX.get(family.type, "")
        found = labels.get(family.name) or sorted(
            {k for s in family.samples for k in s.labels if k not in ("le", "quantile")})
        rows.append([code(name), family.type, ", ".join(code(x) for x in found), family.documentation])
    return sorted(rows)


def render() -> str:
    labels = declared_labels("schemas/service_metrics.py", *(s for s, _, _ in SERVICES.values()))
    header = ["family", "type", "labels", "meaning"]
    lines = [
        "# Metrics",
        "",
        banner("the Prometheus registries of each service"),
        "",
        "Every metric family each service declares (Prometheus naming: base units, `_total` "
        "counters; histograms add `_bucket`, `_sum`, `_count`). The alerts on them: "
        "[runbooks](../operators/runbooks.md); the dashboards: "
        "[dashboards](../analysts/dashboards.md).",
    ]
    first: CollectorRegistry | None = None
    for service, (source, make, served) in SERVICES.items():
        registry = make()
        first = first or registry
        lines += ["", f"## {service[:1].upper()}{service[1:]}", "",
                  f"Served on {served}; declared in `{source}`.", ""]
        lines += table(header, _rows(registry, labels, own=True))
    assert first is not None
    lines += ["", "## Every service", "",
              "The standard process and Python collectors, on every service's registry "
              "(`schemas/service_metrics.py`) besides `framegate_build_info`.", ""]
    lines += table(header, _rows(first, labels, own=False))
    return "\n".join(lines) + "\n"
