"""Every PromQL expression (alert rules, operations dashboard) reads only series that exist:
metric families the services declare, or the series Prometheus adds to each target."""

from __future__ import annotations

import json
import re
from pathlib import Path

import promql_parser
import pytest
import yaml

from tests.unit.observability.declared_metrics import SCRAPE_SERIES, declared_series

ROOT = Path(__file__).resolve().parents[3]
#: Grafana's interval variables, replaced by a duration so the expression parses.
_GRAFANA_INTERVALS = re.compile(r"\$__(rate_interval|interval|range)\b")


def alert_expressions() -> dict[str, str]:
    rules = yaml.safe_load((ROOT / "compose" / "alerts.yml").read_text())
    return {r["alert"]: r["expr"] for g in rules["groups"] for r in g["rules"]}


def dashboard_expressions() -> dict[str, str]:
    found = {}
    for path in sorted((ROOT / "dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                if "expr" in target:
                    found[f"{path.stem}/{panel['title']}/{target['refId']}"] = target["expr"]
    return found


def selected_names(expression: str) -> set[str]:
    names: set[str] = set()

    def visit(node: object) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            assert node.name, f"selector without a metric name in {expression}"
            names.add(node.name)

    promql_parser.walk(promql_parser.parse(_GRAFANA_INTERVALS.sub("5m", expression)), visit)
    return names


EXPRESSIONS = {**{f"alert/{k}": v for k, v in alert_expressions().items()}, **dashboard_expressions()}
KNOWN = set(SCRAPE_SERIES).union(*declared_series().values())


def test_there_are_expressions_to_check() -> None:
    assert len(alert_expressions()) >= 5
    assert len(dashboard_expressions()) >= 15


@pytest.mark.parametrize("where", sorted(EXPRESSIONS))
def test_expression_names_only_declared_series(where: str) -> None:
    names = selected_names(EXPRESSIONS[where])
    assert names, where
    assert names <= KNOWN, f"{where} reads undeclared series {sorted(names - KNOWN)}"


def test_an_undeclared_name_is_caught() -> None:
    names = selected_names("sum(rate(framegate_admission_decision_total[$__rate_interval]))")
    assert names == {"framegate_admission_decision_total"} and not names <= KNOWN


def test_every_service_declares_process_metrics_and_build_info() -> None:
    for service, names in declared_series().items():
        for name in ("framegate_build_info", "process_resident_memory_bytes",
                     "process_cpu_seconds_total", "python_info"):
            assert name in names, (service, name)
