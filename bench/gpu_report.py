"""The GPU verification kit's results as plain data, and their table (Markdown, text, JSON).

Pure: nothing here measures or imports torch; `bench/gpu_verify.py` fills a `Report` one check
at a time and writes it out after each, so a run cut short still leaves what it measured.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Literal

Status = Literal["pass", "fail", "info", "skip"]
Figure = float | int | str | bool | None


@dataclass
class Check:
    name: str
    title: str
    status: Status
    #: How it was measured: says plainly when a CPU stand-in replaced the CUDA measurement.
    measured_as: str
    figures: dict[str, Figure] = field(default_factory=dict)
    detail: str = ""
    seconds: float = 0.0


@dataclass
class Report:
    device: str
    quick: bool
    started_at: str
    environment: dict[str, Figure]
    checks: list[Check] = field(default_factory=list)
    #: Kafka / ClickHouse / service modules loaded by the kit's own process (must stay empty).
    forbidden_modules: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        """No check failed and no forbidden module was loaded (`info`/`skip` do not fail)."""
        return not self.forbidden_modules and all(c.status != "fail" for c in self.checks)


def _figure(value: Figure) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def figures_line(check: Check) -> str:
    return ", ".join(f"{key}={_figure(value)}" for key, value in check.figures.items())


def to_json(report: Report) -> str:
    data = asdict(report)
    data["passed"] = report.passed
    return json.dumps(data, indent=2, sort_keys=False)


def to_markdown(report: Report) -> str:
    env = ", ".join(f"{key} {_figure(value)}" for key, value in report.environment.items())
    lines = [
        f"GPU verification kit, device `{report.device}`{' (quick)' if report.quick else ''}, "
        f"started {report.started_at}, {report.seconds:.0f} s in all: "
        f"**{'PASS' if report.passed else 'FAIL'}**",
        "",
        f"Environment: {env}",
        "",
        "| check | result | measured as | figures | s |",
        "|---|---|---|---|---|",
    ]
    for check in report.checks:
        figures = figures_line(check).replace("|", "/")
        lines.append(
            f"| {check.title} | {check.status} | {check.measured_as} | {figures} | {check.seconds:.1f} |"
        )
    details = [c for c in report.checks if c.detail]
    if details:
        lines += ["", "Details:", ""]
        lines += [f"- {c.title}: {c.detail}" for c in details]
    lines += ["", f"Kafka/ClickHouse modules loaded by the kit: {', '.join(report.forbidden_modules) or 'none'}"]
    return "\n".join(lines) + "\n"


def to_text(report: Report) -> str:
    """The table for a terminal: one line per check, its figures below it."""
    lines = [f"device {report.device}{' (quick)' if report.quick else ''}: "
             f"{'PASS' if report.passed else 'FAIL'} in {report.seconds:.0f} s"]
    width = max((len(c.title) for c in report.checks), default=10)
    for check in report.checks:
        lines.append(f"  {check.title:<{width}}  {check.status:<4}  {check.seconds:6.1f} s  {check.measured_as}")
        if check.figures:
            lines.append(f"  {'':<{width}}        {figures_line(check)}")
        if check.detail:
            lines.append(f"  {'':<{width}}        {check.detail}")
    if report.forbidden_modules:
        lines.append(f"  forbidden modules loaded: {', '.join(report.forbidden_modules)}")
    return "\n".join(lines)
