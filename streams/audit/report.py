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
from streams.audit.report_marks import read_marks

_TABLE_ROWS_IN_PNG = 15
#: Time buckets across the report's range (the bucket is at least 1 s).
_BUCKETS = 600
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


#: Panels whose values are counts per time bucket: drawn as stacked bars, one bar per bucket.
_COUNT_PANELS = frozenset({"decisions", "fallback_reasons"})
#: Panels whose values are a level that holds until the next decision: drawn as steps.
_LEVEL_PANELS = frozenset({"queue_depth", "expected_wait"})
#: Marks closer than this share of the time axis share one label.
_MARK_MERGE_SHARE = 0.03
#: Series with at most this many points get a dot per point.
_DOTS_UP_TO = 20


@dataclass(frozen=True)
class Axis:
    """The time axis every interval-bucketed chart shares: the span of the data and the marks."""

    start: datetime
    end: datetime
    bucket_s: int
    marks: tuple[tuple[str, datetime], ...] = ()
    #: the last bucket with data in any chart: a state holds until then
    last: datetime | None = None
    #: the bucket of charts bucketed by `$__timeInterval_ms` (levels; 0: `bucket_s`)
    bucket_ms: int = 0


def _bucketed(p: Panel) -> bool:
    """Whether the panel's time column is the report's interval (not, say, whole hours)."""
    return "$__timeInterval" in p.sql


def _times(res: PanelResult) -> list[datetime]:
    return [_utc(row[0]) for row in res.rows if isinstance(row[0], datetime)]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def shared_axis(results: list[PanelResult], tr: TimeRange, marks: list[tuple[str, datetime]]) -> Axis:
    """From the first to the last bucket with data (or mark), a bucket of margin either side;
    the whole range when nothing has data."""
    data = [t for r in results if r.panel.kind == "timeseries" and _bucketed(r.panel) for t in _times(r)]
    inside = [(label, at) for label, at in marks if tr.start <= at <= tr.end]
    times = data + [at for _, at in inside]
    if not times:
        return Axis(tr.start, tr.end, tr.interval_s, tuple(inside), bucket_ms=tr.bucket_ms)
    margin = timedelta(seconds=tr.interval_s)
    return Axis(min(times) - margin, max(times) + 2 * margin, tr.interval_s, tuple(inside),
                max(data, default=None), tr.bucket_ms)


def _runs(xs: list[datetime], ys: list[float], bucket_s: int) -> list[tuple[list[datetime], list[float]]]:
    """Consecutive buckets as one run; a bucket with no value starts a new run."""
    runs: list[tuple[list[datetime], list[float]]] = []
    for x, y in zip(xs, ys, strict=True):
        if runs and (x - runs[-1][0][-1]).total_seconds() <= bucket_s * 1.5:
            runs[-1][0].append(x)
            runs[-1][1].append(y)
        else:
            runs.append(([x], [y]))
    return runs


def _merged_marks(axis: Axis) -> list[tuple[str, datetime]]:
    """Marks too close to read apart become one label ("burst + preemption")."""
    span = (axis.end - axis.start).total_seconds() or 1.0
    merged: list[tuple[str, datetime]] = []
    for label, at in axis.marks:
        if merged and (at - merged[-1][1]).total_seconds() / span < _MARK_MERGE_SHARE:
            merged[-1] = (f"{merged[-1][0]} + {label}", merged[-1][1])
        else:
            merged.append((label, at))
    return merged


def _plot(res: PanelResult, path: Path, axis: Axis) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.transforms import Bbox

    p = res.panel
    fig, ax = plt.subplots(figsize=(10, 3.6), dpi=100)
    ax.set_title(p.title, fontsize=11, loc="left")
    if not res.rows:
        ax.text(0.5, 0.5, "no data in range", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    elif p.kind == "timeseries":
        _plot_timeseries(ax, res, axis)
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
        # the table fills the axes, so a short one keeps the row height of a long one
        table = ax.table(cellText=shown, colLabels=res.columns, bbox=Bbox.from_bounds(0, 0, 1, 1), cellLoc="left",
                         colWidths=[w / total for w in widths])
        table.auto_set_font_size(False)
        table.set_fontsize(7)
        # wide enough for every character of the widest row at 7 pt, so no column is clipped
        fig.set_size_inches(max(9.0, 0.065 * total), 0.9 + 0.22 * (len(shown) + 1))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _plot_timeseries(ax: Any, res: PanelResult, axis: Axis) -> None:
    import matplotlib.dates as mdates
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    p = res.panel
    series = sorted(_series(res).items())
    several_values = len([c for c, k in p.columns if k == "number" and c not in p.limits]) > 1
    #: how long one of this chart's buckets lasts (a level's bucket may be under a second)
    width_s: float = axis.bucket_s
    if _bucketed(p):
        start, end, bucket_s = axis.start, axis.end, axis.bucket_s
        if "$__timeInterval_ms" in p.sql and axis.bucket_ms:
            width_s = axis.bucket_ms / 1000
    else:  # e.g. whole hours: its own span, one bucket of margin
        times = _times(res)
        bucket_s = 3600
        start, end = min(times) - timedelta(hours=0.5), max(times) + timedelta(hours=1.5)
    drawn = [(key, xy) for key, xy in series if key[1] not in p.limits]
    bottoms: dict[datetime, float] = defaultdict(float)
    for (_, column), (_, ys) in series:
        if column in p.limits:
            ax.axhline(ys[0], linestyle="--", color="red", linewidth=1.0, alpha=0.7, zorder=1.5,
                       label=f"{column} = {ys[0]:g}")
    for i, ((label, column), (xs, ys)) in enumerate(drawn):
        name = f"{label} {column}".strip() if several_values else (label or column)
        xs = [_utc(x) for x in xs]
        # equal values would hide each other: each series is drawn thinner than the one before
        # (a level seen by decisions rarely coincides across lanes and keeps one width)
        line = 2.2 if p.key in _LEVEL_PANELS else 1.4 + 1.0 * (len(drawn) - 1 - i)
        dots = {"marker": "o", "markersize": 3} if len(xs) <= _DOTS_UP_TO else {}
        if p.key in _COUNT_PANELS:  # counts of one bucket stack up to the bucket's total
            under = [bottoms[x] for x in xs]
            ax.bar(xs, ys, width=bucket_s / 86400 * 0.8, bottom=under, align="edge", label=name)
            for x, y in zip(xs, ys, strict=True):
                bottoms[x] += y
        elif not _bucketed(p):  # one value per lane and long bucket: side by side
            share = bucket_s / 86400 * 0.8 / len(drawn)
            ax.bar([mdates.date2num(x) + i * share for x in xs], ys, width=share, align="edge", label=name)
        elif p.steps or p.key in _LEVEL_PANELS:
            # A state holds until its next change; a level seen by decisions (queue depth) is
            # known only in the buckets that had decisions, so it is not carried over gaps.
            runs = [(xs, ys)] if p.steps else _runs(xs, ys, bucket_s)
            color = None
            for run_xs, run_ys in runs:
                until = run_xs[-1]
                if p.steps and axis.last is not None and _bucketed(p):
                    until = max(until, axis.last)
                step_xs = [*run_xs, until + timedelta(seconds=width_s)]
                drawn_line = ax.step(step_xs, [*run_ys, run_ys[-1]], where="post", linewidth=line,
                                     color=color, label=name if color is None else None)[0]
                color = drawn_line.get_color()
            if dots:
                ax.plot(xs, ys, linestyle="none", color=color, **dots)
        else:  # samples: joined only across neighbouring buckets, never over a gap
            color = None
            for run_xs, run_ys in _runs(xs, ys, bucket_s):
                alone = {"marker": "o", "markersize": 3} if len(run_xs) == 1 else dots
                drawn_line = ax.plot(run_xs, run_ys, linewidth=line, color=color,
                                     label=name if color is None else None, **alone)[0]
                color = drawn_line.get_color()
    for n, (label, at) in enumerate(_merged_marks(axis) if _bucketed(p) else []):
        ax.axvline(at, color="#555", linestyle=":", linewidth=1)
        # above the plot, on two alternating rows so neighbours do not overlap
        ax.annotate(label, (mdates.date2num(at), 1.0), xycoords=("data", "axes fraction"),
                    xytext=(0, 2 + 9 * (n % 2)), textcoords="offset points", ha="center",
                    va="bottom", fontsize=7, color="#333")
    if _bucketed(p) and axis.marks:
        ax.set_title(p.title, fontsize=11, loc="left", pad=24)
    ax.set_xlim(mdates.date2num(start), mdates.date2num(end))
    locator = mdates.AutoDateLocator(minticks=5, maxticks=10, tz=UTC)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S" if bucket_s < 3600 else "%H:%M", tz=UTC))
    ax.tick_params(axis="x", labelsize=8)
    ax.set_xlabel(f"UTC ({start:%Y-%m-%d}), {width_s if _bucketed(p) else bucket_s:g} s per bucket")
    if p.unit == "percentunit":
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    else:
        ax.set_ylabel(_UNIT_LABELS.get(p.unit, ""))
    if p.key in _COUNT_PANELS or p.steps or p.key in _LEVEL_PANELS:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    # headroom above the highest value or limit, so a series at its limit stays visible
    highest = max([*(max(ys) for _, (_, ys) in series), *bottoms.values()], default=0.0)
    ax.set_ylim(0, highest * 1.12 if highest > 0 else None)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))


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
    # Grafana sizes the bucket to the panel's pixels; a 1000-px chart resolves seconds over a
    # few minutes (a demo run) and a few minutes over a day.
    tr = TimeRange.last(timedelta(hours=hours), now or datetime.now(UTC), points=_BUCKETS)
    report = Report(out_dir / "index.html")
    for p in PANELS:
        try:
            report.results.append(run_panel(client, p, tr, database))
        except Exception as exc:  # one broken panel must not hide the others
            report.results.append(PanelResult(p, [], [], error=str(exc)[:500]))
    axis = shared_axis(report.results, tr, read_marks(out_dir))
    for res in report.results:
        if res.error is None:
            res.png = f"{res.panel.key}.png"
            _plot(res, out_dir / res.png, axis)
    report.index.write_text(_html(report.results, tr, database))
    return report
