"""`framegate demo`: set the stage (embedded stack and services), play the contract scenario's
chapters (`streams/demo/chapters.py`, in their printed numbering), summarise from ClickHouse and
write the report.

Every service's /metrics is scraped between chapters (`DemoResult.metrics`), so a test can check
that each declared metric family moved.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack
from pathlib import Path

from rich.console import Console

from schemas.settings import Settings
from streams.audit.report_marks import write_marks
from streams.demo.chapters import play_chapters
from streams.demo.errors import DemoError
from streams.demo.options import DemoOptions, DemoResult
from streams.demo.services import run_command
from streams.demo.stage import Stage, set_stage
from streams.demo.summary import summarise

__all__ = ["DemoError", "DemoOptions", "DemoResult", "play", "run_demo"]


def run_demo(settings: Settings, console: Console, options: DemoOptions | None = None) -> int:
    result = asyncio.run(play(settings, console, options or DemoOptions()))
    console.print(result.summary.render())
    if result.report_path:
        console.print(f"report: [bold]{result.report_path}[/]")
    console.print(f"logs, artifacts and ClickHouse data: {result.run_dir}")
    return 0


async def play(settings: Settings, console: Console, options: DemoOptions) -> DemoResult:
    async with AsyncExitStack() as resources:
        stage = await set_stage(settings, console, options, resources)
        await play_chapters(stage)
        return await _summarise(stage)


async def _summarise(stage: Stage) -> DemoResult:
    """The summary from ClickHouse rows, and the report over this run's window."""
    run_dir = stage.stack.run_dir
    summary = await asyncio.to_thread(
        summarise, f"chdb://{run_dir / 'clickhouse'}", stage.settings.audit_database, stage.phases
    )
    report_path = None
    if stage.options.write_report:
        write_marks(run_dir / "report", stage.marks)
        # the report's window is this run (plus a minute), not the default day
        hours = (time.monotonic() - stage.started + 60.0) / 3600.0
        out = await asyncio.to_thread(
            run_command, ["report", "--hours", f"{hours:.4f}"], stage.stack.env
        )
        report_path = _report_path(out, run_dir)
    return DemoResult(run_dir, summary, stage.phases, stage.timeline, stage.answers, report_path)


def _report_path(output: str, run_dir: Path) -> Path | None:
    for line in output.splitlines():
        if ".html" in line:
            candidate = Path(line.split()[-1])
            if candidate.exists():
                return candidate
    found = sorted(run_dir.rglob("*.html"))
    return found[0] if found else None
