"""`framegate` command line. Heavy imports happen inside commands so `--help` stays fast.

`streams` never imports `gpu_consumers`: commands that run a lane worker or build models
re-exec the interpreter as `python -m gpu_consumers ...`, a process boundary like Kafka's.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from schemas.enums import RouteLane
from schemas.settings import load_settings
from streams.audit.commands import audit_app, audit_sink_command, report_command
from streams.gateway.cli import gateway_app
from streams.simulate.command import simulate_command

console = Console()
app = typer.Typer(
    help="framegate: admission, GPU lanes and audit for video generation.", no_args_is_help=True
)
schemas_app = typer.Typer(help="Message contracts.", no_args_is_help=True)
topics_app = typer.Typer(help="Kafka topics.", no_args_is_help=True)
lane_app = typer.Typer(help="Run a lane worker, or degrade/restore a lane.", no_args_is_help=True)
models_app = typer.Typer(help="Local model directories.", no_args_is_help=True)
app.add_typer(schemas_app, name="schemas")
app.add_typer(topics_app, name="topics")
app.add_typer(lane_app, name="lane")
app.add_typer(models_app, name="models")

app.add_typer(gateway_app, name="gateway")
app.add_typer(audit_app, name="audit")
app.command("audit-sink")(audit_sink_command)
app.command("report")(report_command)
app.command("simulate")(simulate_command)


def _exec_gpu_consumers(*args: str) -> None:
    """Replace this process with the gpu_consumers entry point (keeps the two halves apart)."""
    os.execv(sys.executable, [sys.executable, "-m", "gpu_consumers", *args])


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def kcat(ctx: typer.Context) -> None:
    """Run the system kcat with a current librdkafka (Debian's 2.0.2 cannot talk to tansu).

    Every argument goes to kcat unchanged, e.g. `framegate kcat -L -b 127.0.0.1:19092`.
    """
    from streams.local_stack.kcat import KcatUnavailable, kcat_command

    settings = load_settings()
    try:
        argv, env = kcat_command(
            list(ctx.args), settings.resolved_data_dir / "kcat-lib", dict(os.environ)
        )
    except KcatUnavailable as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    os.execve(argv[0], argv, env)


@schemas_app.command("export")
def schemas_export(directory: Path) -> None:
    """Write one JSON Schema file per wire message into DIRECTORY."""
    from schemas.export import export_schemas

    for path in export_schemas(directory):
        console.print(f"wrote {path}")


@app.command()
def broker(
    port: Annotated[int | None, typer.Option(help="Port on 127.0.0.1 (default: settings).")] = None,
    create_topics: Annotated[bool, typer.Option(help="Create framegate's topics once up.")] = True,
) -> None:
    """Run the local Kafka-protocol broker (tansu, memory storage) until Ctrl-C / SIGTERM."""
    from streams.local_stack.broker import LocalBroker
    from streams.local_stack.topics import create_topics as create

    settings = load_settings()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with LocalBroker(port=port or settings.broker_port, host=settings.bind_host) as local:
        console.print(
            f"broker listening on [bold]{local.bootstrap}[/] (pid {local.pid}, memory storage)"
        )
        if create_topics:
            result = asyncio.run(create(local.bootstrap, settings.topics))
            console.print(
                f"topics: {sum(v == 'created' for v in result.values())} created, "
                f"{sum(v == 'exists' for v in result.values())} already there"
            )
        while not stop.wait(0.5):
            if local.process is None or local.process.poll() is not None:
                console.print("[red]broker exited unexpectedly[/]")
                raise typer.Exit(1)
    console.print("broker stopped")


@topics_app.command("create")
def topics_create(
    bootstrap: Annotated[str | None, typer.Option(help="host:port (default: settings).")] = None,
) -> None:
    """Create every framegate topic with its partition count (idempotent)."""
    from streams.local_stack.topics import create_topics

    settings = load_settings()
    result = asyncio.run(create_topics(bootstrap or settings.kafka_bootstrap, settings.topics))
    partitions = settings.topics.partitions()
    for name, state in result.items():
        console.print(f"{state:8} {name} ({partitions[name]} partitions)")


@lane_app.command("run")
def lane_run(lane: RouteLane) -> None:
    """Run a GPU lane worker for LANE (anisora, phr00t or shared)."""
    _exec_gpu_consumers("lane", lane.value)


@app.command()
def admission(
    loglevel: Annotated[str, typer.Option(help="Faust worker log level.")] = "info",
) -> None:
    """Run the Faust admission agent (tasks.requested -> accepted/lane/rejected) until SIGTERM."""
    from streams.admission.agent import run

    run(load_settings(), loglevel=loglevel)


@lane_app.command("degrade")
def lane_degrade(
    lane: str,
    reason: Annotated[str, typer.Option(help="capacity | quota | manual")],
) -> None:
    """Route LANE's model to the shared lane (publishes a lane_state event)."""
    _lane_command(lane, "degraded_shared", reason)


@lane_app.command("restore")
def lane_restore(lane: str) -> None:
    """Route LANE's model back to its dedicated lane (publishes a lane_state event)."""
    _lane_command(lane, "dedicated", None)


def _lane_command(lane: str, mode: str, reason: str | None) -> None:
    from schemas.enums import FallbackReason, LaneMode
    from streams.admission.operator import LaneCommandError, run_lane_command

    try:
        why = FallbackReason(reason) if reason is not None else None
        result = asyncio.run(run_lane_command(load_settings(), lane, LaneMode(mode), why))
    except (LaneCommandError, ValueError) as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc
    console.print(result.message)


@models_app.command("build-tiny")
def models_build_tiny(directory: Path) -> None:
    """Write tiny random-weight diffusers models for both lanes into DIRECTORY (offline)."""
    _exec_gpu_consumers("models", "build-tiny", str(directory))


@app.command()
def demo() -> None:
    """Start the embedded stack and play the scenario that shows the whole contract."""
    from streams.demo.run import run_demo

    raise typer.Exit(run_demo(load_settings(), console))


def main() -> None:
    # `framegate lane anisora` is the documented spelling of `framegate lane run anisora`.
    argv = sys.argv[1:]
    if len(argv) >= 2 and argv[0] == "lane" and argv[1] in {lane.value for lane in RouteLane}:
        sys.argv = [sys.argv[0], "lane", "run", *argv[1:]]
    app()


if __name__ == "__main__":
    main()
