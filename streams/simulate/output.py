"""A report as a rich table (recorded | recorded set-up, simulated | each scenario) or as JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from streams.simulate.answers import Answers
from streams.simulate.run import Report

#: Disagreements listed in the table output (all of them are in the JSON).
MAX_LISTED = 50


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def table(report: Report) -> Table:
    columns: list[Answers] = [report.recorded, report.modelled, *report.scenarios]
    t = Table(title=f"framegate simulate: {_when(report.start)} .. {_when(report.end)} "
                    f"({report.requests} requests, from {report.origin})")
    t.add_column("")
    for a in columns:
        name = "recorded set-up, simulated" if a is report.modelled else a.name
        t.add_column(name + (" (outside contract)" if a.outside_contract else ""), justify="right")
    codes = sorted({code for a in columns for code in a.refused})
    t.add_row("accepted", *[str(a.accepted) for a in columns])
    for code in codes:
        t.add_row(f"refused {code}", *[str(a.refused.get(code, 0)) for a in columns])
    t.add_row("dropped after waiting (queue_timeout)", *[str(a.expired) for a in columns])
    t.add_row("queue wait p50 / p95 / max (s)",
              *[f"{_num(a.wait_p50)} / {_num(a.wait_p95)} / {_num(a.wait_max)}" for a in columns])
    lanes = sorted({lane for a in columns for lane in (*a.peak_depth, *a.busy_fraction)})
    for lane in lanes:
        t.add_row(f"peak depth {lane}", *[str(a.peak_depth.get(lane, 0)) for a in columns])
    for lane in lanes:
        t.add_row(f"GPU busy {lane}", *[f"{100 * a.busy_fraction.get(lane, 0.0):.1f}%" for a in columns])
    return t


def print_report(report: Report, console: Console) -> None:
    if report.outside_contract:
        console.print(f"[bold red]{report.outside_contract}[/]")
    f = report.fidelity
    colour = "green" if f.agreement == 1.0 else "yellow"
    console.print(f"[{colour}]{f.line()}[/]")
    for d in f.disagreements[:MAX_LISTED]:
        console.print(f"  {d.key} ({d.task_id or '-'}): recorded {d.recorded}, simulated {d.simulated}: {d.reason}")
    if len(f.disagreements) > MAX_LISTED:
        console.print(f"  ... {len(f.disagreements) - MAX_LISTED} more (all of them in --json)")
    console.print(table(report))
    for s in report.searches:
        console.print(s.line() + (" [red](outside the contract)[/]" if report.outside_contract else ""))


def to_json(report: Report) -> dict[str, Any]:
    f = report.fidelity
    return {
        "window": {"start": _when(report.start), "end": _when(report.end), "requests": report.requests,
                   "origin": report.origin},
        "outside_contract": report.outside_contract,
        "queue_policy_max_depth": report.max_depth,
        "fidelity": {
            "compared": f.compared, "agreed": f.agreed, "agreement": round(f.agreement, 6),
            "carried_over": f.carried, "decided_on_recorded_positions": f.by_position,
            "disagreements": [d.__dict__ for d in f.disagreements],
        },
        "recorded": report.recorded.to_json(),
        "recorded_setup_simulated": report.modelled.to_json(),
        "scenarios": [a.to_json() for a in report.scenarios],
        "search": [s.to_json() for s in report.searches],
    }
