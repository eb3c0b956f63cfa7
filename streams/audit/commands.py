"""Typer commands of the audit: `framegate audit migrate|dashboards`, `audit-sink`, `report`.

Heavy imports (aiokafka, clickhouse-connect, matplotlib) stay inside the commands.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from schemas.settings import load_settings

console = Console()
audit_app = typer.Typer(help="Audit tables in ClickHouse and their dashboards.", no_args_is_help=True)


@audit_app.command("migrate")
def migrate_command() -> None:
    """Create or update the audit database, tables and views (idempotent)."""
    from streams.audit.migrations import migrate
    from streams.audit.retention import align_prompt_retention
    from streams.clickhouse_client import connect

    settings = load_settings()
    client = connect(settings.resolved_clickhouse_dsn)
    try:
        result = migrate(client, settings.audit_database, settings.audit_heartbeat_ttl_days)
        prompts = align_prompt_retention(
            client, settings.audit_database, settings.audit_prompt_retention_days
        )
    finally:
        client.close()
    console.print(
        f"database [bold]{result.database}[/]: applied {result.newly_applied or 'nothing new'}, "
        f"already at {result.already_applied or 'none'}"
        + (", heartbeat TTL changed" if result.ttl_changed else "")
        + (f", prompt retention set to {settings.audit_prompt_retention_days} days"
           if prompts else "")
    )


@audit_app.command("dashboards")
def dashboards_command(
    directory: Annotated[Path, typer.Argument(help="Where to write the dashboard JSON.")] = Path("dashboards"),
    check: Annotated[bool, typer.Option(help="Only check the file matches panels.py.")] = False,
) -> None:
    """Write (or --check) the Grafana dashboard generated from streams/audit/panels.py."""
    from streams.audit.grafana import DASHBOARD_FILE, render, write

    if check:
        path = directory / DASHBOARD_FILE
        if not path.exists() or path.read_text() != render():
            console.print(f"[red]{path} is out of date: run `framegate audit dashboards`[/]")
            raise typer.Exit(1)
        console.print(f"{path} matches panels.py")
        return
    console.print(f"wrote {write(directory)}")


def audit_sink_command(
    migrate_first: Annotated[bool, typer.Option("--migrate/--no-migrate", help="Run migrate at start.")] = True,
) -> None:
    """Copy every audited topic into ClickHouse until Ctrl-C / SIGTERM."""
    from prometheus_client import REGISTRY, start_http_server

    from streams.audit.metrics import SinkMetrics
    from streams.audit.migrations import migrate
    from streams.audit.retention import align_prompt_retention
    from streams.audit.sink import sink_from_settings
    from streams.clickhouse_client import connect

    settings = load_settings()
    if migrate_first:
        client = connect(settings.resolved_clickhouse_dsn)
        try:
            migrate(client, settings.audit_database, settings.audit_heartbeat_ttl_days)
            align_prompt_retention(client, settings.audit_database, settings.audit_prompt_retention_days)
        finally:
            client.close()
    if settings.audit_metrics_port:
        start_http_server(settings.audit_metrics_port, addr=settings.bind_host)
    sink = sink_from_settings(settings, SinkMetrics(REGISTRY))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        console.print(
            f"audit sink: {', '.join(settings.topics.audited())} -> "
            f"{settings.audit_database} ({settings.resolved_clickhouse_dsn.split('@')[-1]})"
        )
        await sink.run(stop)

    asyncio.run(main())
    console.print(f"audit sink stopped: {sink.stats.rows} rows, {sink.stats.rejects} rejects")


def report_command(
    out: Annotated[Path | None, typer.Option(help="Output directory (default: settings).")] = None,
    hours: Annotated[float | None, typer.Option(help="Time range, hours back from now.")] = None,
) -> None:
    """Render the dashboard panels to PNG charts and an HTML page (for chDB users)."""
    from streams.audit.report import render_report
    from streams.clickhouse_client import connect

    settings = load_settings()
    client = connect(settings.resolved_clickhouse_dsn)
    try:
        report = render_report(
            client, settings.audit_database, out or settings.resolved_report_dir,
            hours=hours or settings.audit_report_hours,
        )
    finally:
        client.close()
    failed = [r.panel.key for r in report.results if r.error]
    console.print(f"wrote {report.index} ({len(report.results)} panels)")
    if failed:
        console.print(f"[red]panels that failed: {', '.join(failed)}[/]")
        raise typer.Exit(1)
