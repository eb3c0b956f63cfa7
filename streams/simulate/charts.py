"""Charts of a simulate report in the audit report's style (matplotlib PNGs on one HTML page):
recorded and every simulated run side by side, refusals and queue depth over the window."""

from __future__ import annotations

import html
from pathlib import Path

from schemas import DEGRADED_QUEUE_POLICY
from streams.simulate.answers import Answers
from streams.simulate.errors import SimulateError
from streams.simulate.output import to_json
from streams.simulate.run import Report


def _runs(report: Report) -> list[tuple[str, Answers]]:
    runs = [("recorded", report.recorded), ("recorded set-up, simulated", report.modelled)]
    runs += [(a.name + (" (OUTSIDE CONTRACT)" if a.outside_contract else ""), a) for a in report.scenarios]
    return runs


def _plot(report: Report, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = _runs(report)
    fig, axes = plt.subplots(2, len(runs), figsize=(4.2 * len(runs), 6.0), dpi=100, sharey="row", squeeze=False)
    for col, (name, a) in enumerate(runs):
        xs = [i * a.bucket_s / 60.0 for i in range(len(a.refused_series))]
        top, bottom = axes[0][col], axes[1][col]
        top.set_title(name, fontsize=10, loc="left")
        top.bar(xs, a.refused_series, width=a.bucket_s / 60.0, color="#e45756", align="edge")
        top.set_ylabel("refusals per bucket" if col == 0 else "")
        top.grid(alpha=0.3)
        for lane, series in sorted(a.depth_series.items()):
            bottom.plot(xs[: len(series)], series, drawstyle="steps-post", linewidth=1.5, label=lane)
        depth = report.max_depth if a.outside_contract else DEGRADED_QUEUE_POLICY.max_depth
        bottom.axhline(depth, linestyle="--", color="red", linewidth=1.0, label=f"max_depth = {depth}")
        bottom.set_xlabel("minutes into the window")
        bottom.set_ylabel("peak queue depth" if col == 0 else "")
        bottom.grid(alpha=0.3)
        bottom.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _html(report: Report) -> str:
    esc = html.escape
    data = to_json(report)
    runs = _runs(report)
    rows = [("accepted", [str(a.accepted) for _, a in runs])]
    for code in sorted({c for _, a in runs for c in a.refused}):
        rows.append((f"refused {code}", [str(a.refused.get(code, 0)) for _, a in runs]))
    rows.append(("queue wait p95 (s)", [str(a.wait_p95) for _, a in runs]))
    for lane in sorted({lane for _, a in runs for lane in a.peak_depth}):
        rows.append((f"peak depth {lane}", [str(a.peak_depth.get(lane, 0)) for _, a in runs]))
    for lane in sorted({lane for _, a in runs for lane in a.busy_fraction}):
        rows.append((f"GPU busy {lane}", [f"{100 * a.busy_fraction.get(lane, 0):.1f}%" for _, a in runs]))
    head = "".join(f"<th>{esc(n)}</th>" for n, _ in runs)
    body = "".join(f"<tr><td>{esc(k)}</td>" + "".join(f"<td>{esc(v)}</td>" for v in vs) + "</tr>" for k, vs in rows)
    warn = f"<p class='err'><b>{esc(report.outside_contract)}</b></p>" if report.outside_contract else ""
    f = report.fidelity
    dis = "".join(f"<li>{esc(d.key)} ({esc(d.task_id or '-')}): recorded {esc(d.recorded)}, simulated "
                  f"{esc(d.simulated)}: {esc(d.reason)}</li>" for d in f.disagreements)
    return "\n".join([
        "<!doctype html><html><head><meta charset='utf-8'><title>framegate simulate</title>",
        "<style>body{font-family:sans-serif;max-width:1200px;margin:auto}"
        "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px}"
        ".err{color:#b00}</style></head><body>",
        "<h1>framegate simulate</h1>", warn,
        f"<p>{esc(data['window']['start'])} to {esc(data['window']['end'])} UTC, "
        f"{report.requests} requests, from <code>{esc(report.origin)}</code>.</p>",
        f"<p>{esc(f.line())}</p>", f"<ul>{dis}</ul>" if dis else "",
        f"<table><tr><th></th>{head}</tr>{body}</table>",
        "<h2>Refusals and queue depth, recorded vs simulated</h2>",
        "<img src='runs.png' alt='refusals and queue depth per run'>",
        "</body></html>",
    ])


def render_charts(report: Report, out_dir: Path) -> Path:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise SimulateError("--charts needs matplotlib: install framegate[report]") from None
    out_dir.mkdir(parents=True, exist_ok=True)
    _plot(report, out_dir / "runs.png")
    index = out_dir / "index.html"
    index.write_text(_html(report), encoding="utf-8")
    return index
