"""`framegate report`: the dashboard panels as PNG charts on one HTML page.

For embedded users whose chDB Grafana cannot reach. Runs exactly the SQL of `panels.PANELS`
(macros expanded like the plugin does), so the report and Grafana can never disagree.
"""

from __future__ import annotations

import html
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from streams.audit.macros import TimeRange, expand
from streams.audit.panels import PANELS, SECTIONS, Panel

_TABLE_ROWS_IN_PNG = 15
#: Grafana unit ids -> axis labels.
_UNIT_LABELS = {"gbytes": "GiB", "s": "seconds", "ms": "ms"}


@dataclass
class PanelResult:
    panel: Panel
    columns: list[str]
    rows: list[tuple[Any, ...]]
    png: str | None = None
    error: str | None = None


@dataclass
class Report:
    index: Path
    results: list[PanelResult] = field(default_factory=list)


def run_panel(client: Any, p: Panel, tr: TimeRange, database: str) -> PanelResult:
    result = client.query(expand(p.sql, tr, {"database": database}))
    return PanelResult(p, list(result.column_names), [tuple(r) for r in result.result_rows])


def _series(res: PanelResult) -> dict[tuple[str, str], tuple[list[Any], list[float]]]:
    """Long format (time, labels..., values...) -> {(label, value column): (xs, ys)}."""
    kinds = dict(res.panel.columns)
    labels = [c for c in res.columns[1:] if kinds.get(c) == "string"]
    values = [c for c in res.columns[1:] if kinds.get(c) == "number"]
    idx = {c: i for i, c in enumerate(res.columns)}
    out: dict[tuple[str, str], tuple[list[Any], list[float]]] = defaultdict(lambda: ([], []))
    for row in res.rows:
        label = " ".join(str(row[idx[c]]) for c in labels)
        for v in values:
            if row[idx[v]] is None:
                continue
            key = ("", v) if v in res.panel.limits else (label, v)
            xs, ys = out[key]
            xs.append(row[0])
            ys.append(float(row[idx[v]]))
    return dict(out)


def _plot(res: PanelResult, path: Path, tr: TimeRange) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    p = res.panel
    fig, ax = plt.subplots(figsize=(10, 3.6), dpi=100)
    ax.set_title(p.title, fontsize=11, loc="left")
    if not res.rows:
        ax.text(0.5, 0.5, "no data in range", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    elif p.kind == "timeseries":
        several_values = len([c for c, k in p.columns if k == "number" and c not in p.limits]) > 1
        for (label, column), (xs, ys) in sorted(_series(res).items()):
            if column in p.limits:
                ax.plot(xs, ys, linestyle="--", color="red", linewidth=1.2, label=f"{column} = {ys[0]:g}")
                continue
            name = f"{label} {column}".strip() if several_values else (label or column)
            ax.plot(xs, ys, marker="o", markersize=3, linewidth=1.5, label=name,
                    drawstyle="steps-post" if p.steps else "default")
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=UTC))
        ax.set_xlim(mdates.date2num(tr.start), mdates.date2num(tr.end))
        ax.set_xlabel("UTC")
        ax.set_ylabel(_UNIT_LABELS.get(p.unit, ""))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    elif p.kind == "bar":
        labels = [str(r[0]) for r in res.rows]
        values = [float(r[1] or 0) for r in res.rows]
        bars = ax.barh(labels[::-1], values[::-1], color="#4c78a8")
        ax.bar_label(bars, fmt="%g", fontsize=8)
        ax.tick_params(axis="y", labelsize=8)
        ax.grid(axis="x", alpha=0.3)
    else:
        ax.set_axis_off()
        shown = [[_cell(v) for v in row] for row in res.rows[:_TABLE_ROWS_IN_PNG]]
        widths = [max([len(c)] + [len(row[i]) for row in shown]) + 2 for i, c in enumerate(res.columns)]
        total = sum(widths)
        table = ax.table(cellText=shown, colLabels=res.columns, loc="upper center", cellLoc="left",
                         colWidths=[w / total for w in widths])
        table.auto_set_font_size(False)
        table.set_fontsize(7)
        # wide enough for every character of the widest row at 7 pt, so no column is clipped
        fig.set_size_inches(max(9.0, 0.065 * total), 0.9 + 0.22 * (len(shown) + 1))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:.3g}"
    text = str(value)
    return text if len(text) <= 48 else text[:45] + "..."


def _html(results: list[PanelResult], tr: TimeRange, database: str) -> str:
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>framegate audit report</title>",
        "<style>body{font-family:sans-serif;max-width:1000px;margin:auto}"
        "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px}"
        "pre{background:#f5f5f5;padding:6px;overflow-x:auto}.err{color:#b00}</style></head><body>",
        "<h1>framegate audit report</h1>",
        f"<p>database <code>{esc(database)}</code>, {tr.start:%Y-%m-%d %H:%M:%S} to "
        f"{tr.end:%Y-%m-%d %H:%M:%S} UTC, interval {tr.interval_s} s. Generated "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC from the same SQL as the Grafana dashboard.</p>",
    ]
    for section in SECTIONS:
        parts.append(f"<h2>{esc(section)}</h2>")
        for res in (r for r in results if r.panel.section == section):
            parts.append(f"<h3 id='{res.panel.key}'>{esc(res.panel.title)}</h3>")
            parts.append(f"<p>{esc(res.panel.description)}</p>")
            if res.error:
                parts.append(f"<p class='err'>query failed: {esc(res.error)}</p>")
            if res.png:
                parts.append(f"<img src='{esc(res.png)}' alt='{esc(res.panel.title)}'>")
            if res.panel.kind == "table" and res.rows:
                head = "".join(f"<th>{esc(c)}</th>" for c in res.columns)
                body = "".join(
                    "<tr>" + "".join(f"<td>{esc(_cell(v))}</td>" for v in row) + "</tr>" for row in res.rows
                )
                parts.append(f"<table><tr>{head}</tr>{body}</table>")
            parts.append(f"<details><summary>SQL</summary><pre>{esc(res.panel.sql)}</pre></details>")
    parts.append("</body></html>")
    return "\n".join(parts)


def render_report(
    client: Any, database: str, out_dir: Path, hours: float = 24.0, now: datetime | None = None
) -> Report:
    """Writes one PNG per panel and `index.html` into out_dir. A failing panel is shown, not fatal."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tr = TimeRange.last(timedelta(hours=hours), now or datetime.now(UTC))
    report = Report(out_dir / "index.html")
    for p in PANELS:
        try:
            res = run_panel(client, p, tr, database)
        except Exception as exc:  # one broken panel must not hide the others
            report.results.append(PanelResult(p, [], [], error=str(exc)[:500]))
            continue
        png = f"{p.key}.png"
        _plot(res, out_dir / png, tr)
        res.png = png
        report.results.append(res)
    report.index.write_text(_html(report.results, tr, database))
    return report
