"""docs/performance.md from the benchmarks' records (`bench/recorded_figures.py`): `make bench` writes it.

Not checked for staleness like the pages made from the code: its figures change only when the
benchmarks run again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from docs.gen.markdown import banner, code, table

PAGE = "performance.md"


def load(records: Path) -> list[dict[str, Any]]:
    if not records.exists():
        return []
    return [json.loads(line) for line in records.read_text().splitlines() if line.strip()]


def _value(row: dict[str, Any]) -> str:
    value = row["value"]
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return f"{text} {row['unit']}".strip()


def render(rows: list[dict[str, Any]]) -> str:
    lines = [
        "# Performance",
        "",
        banner("`make bench` from the benchmarks' records"),
        "",
        "Every figure framegate publishes, as the last `make bench` measured it: when, on which "
        "machine, by which command, and the target it is held to. Benchmarks are scripts in "
        "`bench/`, not tests; each calls `record(...)` (`bench/recorded_figures.py`) beside the line "
        "that prints a figure. Figures from different machines are not comparable.",
    ]
    if not rows:
        lines += ["", "No figures recorded yet: run `make bench` (it takes a while, on an "
                  "otherwise idle machine) to fill this page."]
        return "\n".join(lines) + "\n"
    by_script: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_script.setdefault(row["script"], []).append(row)
    for script, figures in sorted(by_script.items()):
        last = figures[-1]
        lines += [
            "",
            f"## `{script}`",
            "",
            f"- command: {code(last['command'])}",
            f"- date: {last['at']}",
            f"- machine: {last['machine']}",
            "",
        ]
        lines += table(["figure", "value", "target"],
                       [[r["name"], _value(r), r.get("target") or ""] for r in figures])
    return "\n".join(lines) + "\n"
