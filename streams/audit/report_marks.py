"""Moments to mark on the report's time axes (the demo's chapters), kept beside the report.

A run that wants its moments drawn writes them to `marks.json` in the report's directory before
`framegate report` renders there; a report without the file draws no marks.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

MARKS_FILE = "marks.json"


def write_marks(report_dir: Path, marks: Iterable[tuple[str, datetime]]) -> Path:
    report_dir.mkdir(parents=True, exist_ok=True)
    path = report_dir / MARKS_FILE
    rows = [{"label": label, "at": at.astimezone(UTC).isoformat()} for label, at in marks]
    path.write_text(json.dumps(rows, indent=1) + "\n")
    return path


def read_marks(report_dir: Path) -> list[tuple[str, datetime]]:
    """The marks in time order; none when the file is missing or unreadable (marks are a
    courtesy of the report, never a reason for it to fail)."""
    try:
        rows = json.loads((report_dir / MARKS_FILE).read_text())
        marks = [(str(r["label"]), datetime.fromisoformat(r["at"]).astimezone(UTC)) for r in rows]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return sorted(marks, key=lambda m: m[1])
