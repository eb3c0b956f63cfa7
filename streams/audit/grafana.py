"""Grafana dashboard JSON built from `panels.PANELS` (the checked-in file is this, serialised)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from streams.audit.panels import (
    CPU_LOAD_PER_CORE_LIMIT,
    IO_WRITE_MS_LIMIT,
    MAX_DEPTH,
    MAX_WAIT_S,
    PANELS,
    SECTIONS,
    Panel,
)

PLUGIN = "grafana-clickhouse-datasource"
#: Panels name the datasource through the `datasource` variable, so the dashboard imports into
#: any Grafana whatever its ClickHouse datasource's uid.
DATASOURCE = {"type": PLUGIN, "uid": "${datasource}"}
DASHBOARD_UID = "framegate-audit"
DASHBOARD_FILE = "framegate-audit.json"
#: The plugin's query formats: 0 time series, 1 table.
_FORMAT = {"timeseries": 0, "bar": 1, "table": 1}
_VIZ = {"timeseries": "timeseries", "bar": "barchart", "table": "table"}
_WIDTH, _HEIGHT = 12, 8


def _thresholds(p: Panel) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [{"color": "green", "value": None}]
    limits = {"max_depth": MAX_DEPTH, "max_wait_seconds": MAX_WAIT_S,
              "limit_per_core": CPU_LOAD_PER_CORE_LIMIT, "limit_ms": IO_WRITE_MS_LIMIT}
    for name in p.limits:
        steps.append({"color": "red", "value": limits[name]})
    return {"mode": "absolute", "steps": steps}


def _panel_json(p: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    custom: dict[str, Any] = {}
    if p.kind == "timeseries":
        custom = {"drawStyle": "line", "showPoints": "auto", "lineWidth": 2,
                  "lineInterpolation": "stepAfter" if p.steps else "linear"}
        if p.limits:
            custom["thresholdsStyle"] = {"mode": "dashed"}
    overrides = [
        {"matcher": {"id": "byName", "options": name},
         "properties": [{"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}}]}
        for name in p.limits
    ]
    return {
        "id": panel_id,
        "type": _VIZ[p.kind],
        "title": p.title,
        "description": p.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": _HEIGHT, "w": _WIDTH, "x": x, "y": y},
        "fieldConfig": {
            "defaults": {"unit": p.unit, "custom": custom, "thresholds": _thresholds(p)},
            "overrides": overrides,
        },
        "options": {} if p.kind == "table" else {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}
        },
        "targets": [{
            # `framegate report` and the panel test key on this: the SQL's single source.
            "refId": p.key,
            "datasource": DATASOURCE,
            "editorType": "sql",
            "format": _FORMAT[p.kind],
            "queryType": "timeseries" if p.kind == "timeseries" else "table",
            "rawSql": p.sql,
        }],
    }


def dashboard(database: str = "framegate") -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    y = 0
    next_id = 1
    for section in SECTIONS:
        panels.append({"id": next_id, "type": "row", "title": section, "collapsed": False,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
        next_id += 1
        y += 1
        for i, p in enumerate(x for x in PANELS if x.section == section):
            panels.append(_panel_json(p, next_id, (i % 2) * _WIDTH, y + (i // 2) * _HEIGHT))
            next_id += 1
        count = sum(1 for x in PANELS if x.section == section)
        y += ((count + 1) // 2) * _HEIGHT
    return {
        "uid": DASHBOARD_UID,
        "title": "framegate audit",
        "tags": ["framegate", "audit"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [{
            "name": "datasource", "label": "ClickHouse", "type": "datasource", "query": PLUGIN,
            "current": {}, "options": [], "refresh": 1, "hide": 0,
        }, {
            "name": "database", "label": "ClickHouse database", "type": "textbox",
            "query": database, "current": {"text": database, "value": database},
            "options": [{"selected": True, "text": database, "value": database}],
        }]},
        "annotations": {"list": []},
        "panels": panels,
    }


def render(database: str = "framegate") -> str:
    return json.dumps(dashboard(database), indent=2, sort_keys=False) + "\n"


def write(directory: Path, database: str = "framegate") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / DASHBOARD_FILE
    path.write_text(render(database))
    return path
