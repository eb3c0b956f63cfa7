"""Every ClickHouse query of every checked-in dashboard (read from the JSON, whatever generated
it) runs against the audit schema on chDB, with the dashboard's own variables."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from streams.audit.macros import TimeRange, expand
from tests.integration.audit.conftest import Loaded

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
ROOT = Path(__file__).resolve().parents[3]
PLUGIN = "grafana-clickhouse-datasource"


def clickhouse_queries() -> dict[str, tuple[str, dict[str, str]]]:
    """`dashboard/panel/refId` -> (rawSql, the dashboard's variables with their current value)."""
    found = {}
    for path in sorted((ROOT / "dashboards").glob("*.json")):
        content: dict[str, Any] = json.loads(path.read_text())
        variables = {
            v["name"]: str(v.get("current", {}).get("value", ""))
            for v in content["templating"]["list"]
        }
        for panel in content["panels"]:
            for target in panel.get("targets", []):
                if panel["datasource"]["type"] == PLUGIN:
                    found[f"{path.stem}/{panel['title']}/{target['refId']}"] = (
                        target["rawSql"], variables,
                    )
    return found


QUERIES = clickhouse_queries()


def test_the_audit_dashboard_has_clickhouse_queries() -> None:
    assert sum(key.startswith("framegate-audit/") for key in QUERIES) >= 15


@pytest.mark.parametrize("where", sorted(QUERIES))
def test_dashboard_query_runs_on_the_audit_schema(loaded_pipeline: Loaded, where: str) -> None:
    sql, variables = QUERIES[where]
    tr = TimeRange.last(timedelta(hours=1), datetime.now(UTC) + timedelta(minutes=1))
    expanded = expand(sql, tr, {**variables, "database": loaded_pipeline.database})
    result = loaded_pipeline.client.query(expanded)
    assert result.column_names, where
