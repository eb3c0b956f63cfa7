"""`framegate` command line. Heavy imports happen inside commands so `--help` stays fast.

`streams` never imports `gpu_consumers`: commands that run a lane worker or build models
re-exec the interpreter as `python -m gpu_consumers ...`, a process boundary like Kafka's.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from schemas.enums import FallbackReason, LaneKey, LaneMode, RouteLane
from schemas.settings import load_settings
from streams.audit.commands import audit_app, audit_sink_command, report_command
from streams.cli_failures import (
    KAFKA_SETTING,
    Service,
    ServiceFailure,
    classify,
    misconfiguration,
)
from streams.gateway.cli import gateway_app
from streams.simulate.command import simulate_command

console = Console()
T = TypeVar("T")
# Plain usage errors: "Error: Invalid value for ...", one line an operator can grep.
app = typer.Typer(
    help="framegate: admission, GPU lanes and audit for video generation.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
schemas_app = typer.Typer(help="Message contracts.", no_args_is_help=True)
topics_app = typer.Typer(help="Kafka topics.", no_args_is_help=True)
lane_app = typer.Typer(help="Run a lane worker, or degrade/restore a lane.", no_args_is_help=True)
models_app = typer.Typer(help="Local model directories.", no_args_is_help=True)
_debug = False


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"framegate {version('framegate')}")
        except PackageNotFoundError:
            typer.echo("framegate (not installed as a package)")
        raise typer.Exit()


#: Commands that do one thing and exit: a client library's own error logs would only repeat,
#: in several lines, the one line `main` prints. Long-running services keep them.
_ONE_SHOT = {"topics", "lane", "audit", "report", "simulate"}
_CLIENT_LOGGERS = ("aiokafka", "clickhouse_connect")


@app.callback()
def root(
    ctx: typer.Context,
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks instead of one-line errors.")
    ] = False,
) -> None:
    """framegate: admission, GPU lanes and audit for video generation.

    Exit codes: 0 ok, 1 failed, 2 usage, 3 Kafka/ClickHouse unreachable, 4 refused.
    """
    global _debug
    _debug = debug
    if not debug and ctx.invoked_subcommand in _ONE_SHOT:
        for name in _CLIENT_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)


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
    """Run the system kcat with a current librdkafka (Debian's own is too old to talk to tansu).

    Every argument goes to kcat unchanged, e.g. `framegate kcat -L -b 127.0.0.1:19092`; the
    FRAMEGATE_KAFKA_SECURITY__* settings reach it as a librdkafka config file (`-F`), never as
    arguments.
    """
    from streams.local_stack.kcat import KcatUnavailable, kcat_command

    settings = load_settings()
    try:
        argv, env = kcat_command(
            list(ctx.args), settings.resolved_data_dir / "kcat-lib", dict(os.environ),
            security=settings.kafka_security,
        )
    except KcatUnavailable as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    os.execve(argv[0], argv, env)


@schemas_app.command("export")
def schemas_export(directory: Path) -> None:
    """Write one JSON Schema per wire message and the AsyncAPI 3.0 document into DIRECTORY."""
    from schemas.export import export_schemas

    settings = load_settings()
    for path in export_schemas(directory, settings.topics):
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
    target = bootstrap or settings.kafka_bootstrap
    service = Service("Kafka", target, "--bootstrap" if bootstrap else KAFKA_SETTING)
    try:
        result = _run_io(create_topics(target, settings.topics, security=settings.kafka_security))
    except Exception as exc:
        failure = classify(exc, settings, kafka_service=service)
        if failure is None:
            raise
        raise failure from exc
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


LaneArgument = Annotated[LaneKey, typer.Argument(help="A lane with a routing mode.")]


@lane_app.command("degrade")
def lane_degrade(
    lane: LaneArgument,
    reason: Annotated[FallbackReason, typer.Option(help="Why the lane is degraded.")],
) -> None:
    """Route LANE's model to the shared lane (publishes a lane_state event)."""
    _lane_command(lane, LaneMode.degraded_shared, reason)


@lane_app.command("restore")
def lane_restore(lane: LaneArgument) -> None:
    """Route LANE's model back to its dedicated lane (publishes a lane_state event)."""
    _lane_command(lane, LaneMode.dedicated, None)


def _lane_command(lane: LaneKey, mode: LaneMode, reason: FallbackReason | None) -> None:
    from streams.admission.operator import LaneCommandError, run_lane_command

    try:
        result = _run_io(run_lane_command(load_settings(), lane.value, mode, reason))
    except LaneCommandError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc
    console.print(result.message)


def _run_io(coro: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run`, minus the "Unclosed AIOKafka..." notes a failed start leaves behind: the
    failure itself is reported as one line (or as a traceback under --debug)."""

    def quiet(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if _debug or not str(context.get("message", "")).startswith("Unclosed AIOKafka"):
            loop.default_exception_handler(context)

    with asyncio.Runner() as runner:
        runner.get_loop().set_exception_handler(quiet)
        return runner.run(coro)


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
    try:
        app()
    except Exception as exc:
        # before load_settings(): the settings may be what failed
        failure: ServiceFailure | None = misconfiguration(exc)
        if failure is None:
            failure = exc if isinstance(exc, ServiceFailure) else classify(exc, load_settings())
        if failure is None or _debug:
            raise
        typer.echo(f"framegate: {failure.line()}", err=True)
        sys.exit(failure.exit_code)


if __name__ == "__main__":
    main()
