"""Every dashboard panel, the report and the analyst guide's queries against a loaded pipeline run."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from streams.audit.grafana import DASHBOARD_FILE, render
from streams.audit.macros import TimeRange, expand
from streams.audit.panels import PANELS, Panel
from streams.audit.report import render_report
from tests.integration.audit.conftest import Loaded

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
ROOT = Path(__file__).resolve().parents[3]


def _kind(ch_type: str) -> str:
    inner = ch_type
    for wrapper in ("LowCardinality(", "Nullable("):
        while inner.startswith(wrapper):
            inner = inner[len(wrapper):-1]
    if inner.startswith("DateTime"):
        return "time"
    if inner == "String":
        return "string"
    if re.match(r"^(U?Int\d+|Float\d+|Decimal)", inner):
        return "number"
    return inner


def _range() -> TimeRange:
    return TimeRange.last(timedelta(hours=1), datetime.now(UTC) + timedelta(minutes=1))


@pytest.mark.parametrize("panel", PANELS, ids=[p.key for p in PANELS])
def test_panel_sql_returns_rows_of_the_declared_shape(loaded_pipeline: Loaded, panel: Panel) -> None:
    result = loaded_pipeline.client.query(expand(panel.sql, _range(), {"database": loaded_pipeline.database}))
    assert tuple(result.column_names) == panel.column_names
    kinds = tuple(_kind(t.name) for t in result.column_types)
    assert kinds == tuple(k for _, k in panel.columns), [t.name for t in result.column_types]
    assert result.result_rows, f"{panel.key} returned no rows for the scenario"


def test_panels_answer_the_scenario(loaded_pipeline: Loaded) -> None:
    tr, db, client = _range(), loaded_pipeline.database, loaded_pipeline.client

    def rows(key: str) -> list[tuple[Any, ...]]:
        p = next(p for p in PANELS if p.key == key)
        return [tuple(r) for r in client.query(expand(p.sql, tr, {"database": db})).result_rows]

    depth = rows("queue_depth")
    assert max(r[2] for r in depth if r[1] == "shared") == 25 and {r[3] for r in depth} == {25}
    waits = rows("expected_wait")  # the wait breaches were refused at 32.5 s on the shared lane
    assert max(r[2] for r in waits) == 32.5 and {r[3] for r in waits} == {30}
    assert max(r[2] for r in waits if r[1] == "shared") == 32.5
    assert {r[1] for r in rows("fallback_reasons")} == {"capacity"}
    lanes = {r[0]: r for r in rows("lane_current")}
    assert lanes["phr00t"][1:3] == ("dedicated", "ready") and lanes["shared"][1] is None
    assert dict(rows("task_status")) == {"done": 21, "failed": 3, "pending": 13}
    assert any(r[2] == "queue_overloaded" and r[6] == 25 for r in rows("refusals"))


def test_checked_in_dashboard_is_generated_from_panels() -> None:
    checked_in = (ROOT / "dashboards" / DASHBOARD_FILE).read_text()
    assert checked_in == render(), "run `framegate audit dashboards` to regenerate"
    dashboard = json.loads(checked_in)
    by_key = {p["targets"][0]["refId"]: p for p in dashboard["panels"] if p["type"] != "row"}
    assert set(by_key) == {p.key for p in PANELS}
    for p in PANELS:
        target = by_key[p.key]["targets"][0]
        assert target["rawSql"] == p.sql
        assert by_key[p.key]["datasource"]["type"] == "grafana-clickhouse-datasource"
    for path in ("provisioning/datasources/clickhouse.yaml", "provisioning/dashboards/framegate.yaml"):
        assert (ROOT / "dashboards" / path).exists()


def test_report_renders_every_panel_to_png_and_html(loaded_pipeline: Loaded, tmp_path: Path) -> None:
    report = render_report(loaded_pipeline.client, loaded_pipeline.database, tmp_path, hours=1,
                           now=datetime.now(UTC) + timedelta(minutes=1))
    assert [r.error for r in report.results if r.error] == []
    assert len(report.results) == len(PANELS)
    page = report.index.read_text()
    for res in report.results:
        png = tmp_path / f"{res.panel.key}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5_000
        assert f"src='{png.name}'" in page
    assert "queue_overloaded" in page  # the refusals table is on the page too


def _guide_queries() -> list[str]:
    text = (ROOT / "docs" / "analyst-guide.md").read_text()
    return re.findall(r"```sql\n(.*?)```", text, flags=re.S)


def test_analyst_guide_has_eleven_questions_and_every_query_runs(loaded_pipeline: Loaded) -> None:
    queries = _guide_queries()
    assert len(queries) == 12  # eleven questions and the rejects bonus
    for sql in queries:
        local = re.sub(r"\bframegate\.", f"{loaded_pipeline.database}.", sql)
        result = loaded_pipeline.client.query(local)
        assert result.result_rows, f"no rows for:\n{sql}"
