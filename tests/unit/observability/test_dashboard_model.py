"""Every dashboard in dashboards/ survives a round trip through Grafana's dashboard model
(grafana-foundation-sdk): nothing is lost or changed, so no key lies outside Grafana's schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
DASHBOARDS = sorted((ROOT / "dashboards").glob("*.json"))


def round_trip(content: dict[str, Any]) -> dict[str, Any]:
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.cog.plugins import register_default_plugins
    from grafana_foundation_sdk.models.dashboard import Dashboard

    register_default_plugins()
    return dict(json.loads(json.dumps(Dashboard.from_json(content), cls=JSONEncoder)))


def losses(original: Any, back: Any, path: str = "") -> list[str]:
    """Keys dropped and values changed on the way back; keys the model adds (defaults) are fine."""
    if isinstance(original, dict) and isinstance(back, dict):
        found = [f"lost {path}/{k}" for k in original if k not in back]
        for key in original.keys() & back.keys():
            found += losses(original[key], back[key], f"{path}/{key}")
        return found
    if isinstance(original, list) and isinstance(back, list):
        if len(original) != len(back):
            return [f"{path}: {len(original)} items became {len(back)}"]
        return [x for i, (a, b) in enumerate(zip(original, back, strict=True))
                for x in losses(a, b, f"{path}[{i}]")]
    return [] if original == back else [f"changed {path}: {original!r} -> {back!r}"]


def test_the_dashboards_exist() -> None:
    assert {p.name for p in DASHBOARDS} >= {"framegate-audit.json", "framegate-operations.json"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=[p.stem for p in DASHBOARDS])
def test_dashboard_round_trips_through_the_grafana_model(path: Path) -> None:
    pytest.importorskip("grafana_foundation_sdk")
    content = json.loads(path.read_text())
    back = round_trip(content)
    assert not losses(content, back), "\n".join(losses(content, back))
    assert len(back["panels"]) == len(content["panels"]) > 0


def test_a_key_outside_the_schema_is_reported() -> None:
    pytest.importorskip("grafana_foundation_sdk")
    content = json.loads((ROOT / "dashboards" / "framegate-operations.json").read_text())
    content["panels"][1]["framegate_panel"] = "queue_depth"
    assert losses(content, round_trip(content)) == ["lost /panels[1]/framegate_panel"]


def test_operations_dashboard_shows_the_contract_signals() -> None:
    content = json.loads((ROOT / "dashboards" / "framegate-operations.json").read_text())
    panels = {
        target["expr"]: panel
        for panel in content["panels"] for target in panel.get("targets", [])
    }

    def panel_reading(series: str, grouped_by: str = "") -> dict[str, Any]:
        found = [p for expr, p in panels.items() if series in expr and grouped_by in expr]
        assert found, f"no panel reads {series} {grouped_by}"
        return found[0]

    panel_reading("framegate_admission_decisions_total", "by (outcome, code)")
    depth = panel_reading("framegate_admission_queue_depth")
    steps = depth["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [s["value"] for s in steps if s["value"] is not None] == [25]
    panel_reading("framegate_lane_busy")
    panel_reading("framegate_lane_memory_bytes")
    panel_reading("process_resident_memory_bytes")
    panel_reading("framegate_audit_lag_seconds_bucket")
    panel_reading("framegate_gateway_http_requests_total", "by (status)")
    panel_reading("framegate_build_info")
