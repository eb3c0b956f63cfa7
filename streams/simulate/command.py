"""`framegate simulate`: the command-line edge (flags -> history, scenarios -> report -> output)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from schemas import RouteLane
from schemas.settings import load_settings


def simulate_command(
    from_kafka: Annotated[bool, typer.Option("--from-kafka", help="Read the Kafka logs instead of ClickHouse.")] = False,
    dsn: Annotated[str | None, typer.Option(help="ClickHouse DSN (default: FRAMEGATE_CLICKHOUSE_DSN).")] = None,
    since: Annotated[str | None, typer.Option(help="Window start, ISO 8601 (UTC if no zone).")] = None,
    until: Annotated[str | None, typer.Option(help="Window end, ISO 8601 (default: the last record).")] = None,
    hours: Annotated[float | None, typer.Option(help="Window: this many hours before --until (or now).")] = None,
    scenario: Annotated[list[Path] | None, typer.Option(help="Scenario TOML file (repeatable).")] = None,
    workers: Annotated[list[str] | None, typer.Option(help="Workers per lane, e.g. shared=2 (repeatable).")] = None,
    degrade: Annotated[list[str] | None, typer.Option(help="Degrade a lane at an offset, e.g. anisora@30.")] = None,
    restore: Annotated[list[str] | None, typer.Option(help="Restore a lane at an offset, e.g. anisora@120.")] = None,
    elastic: Annotated[bool, typer.Option(help="Elastic step-down in degraded mode (off: jobs run full size).")] = True,
    arrival_scale: Annotated[float, typer.Option(help="Arrival rate x k (seeded thinning/duplication).")] = 1.0,
    seed: Annotated[int, typer.Option(help="Seed of service-time sampling and arrival scaling.")] = 0,
    what_if_queue_policy: Annotated[str | None, typer.Option(
        "--what-if-queue-policy",
        help="depth=N,wait=S: a queue policy OUTSIDE the contract (25 / 30 s), labelled in every output.")] = None,
    search: Annotated[list[RouteLane] | None, typer.Option(
        help="Find the fewest workers on LANE with queue_overloaded at or below --max-overload-rate.")] = None,
    max_overload_rate: Annotated[float, typer.Option(help="Search target: refusals / requests.")] = 0.0,
    search_upper: Annotated[int, typer.Option(help="Most workers the search tries.")] = 64,
    jobs: Annotated[int | None, typer.Option(
        help="Worker processes for the search's probes (default: one per core).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    charts: Annotated[Path | None, typer.Option(help="Write PNG charts and index.html into this directory.")] = None,
) -> None:
    """Replay recorded traffic through the admission core against other lane set-ups.

    Always prints the fidelity check (the recorded set-up must give back the recorded decisions),
    then accepted / refused by code / queue waits / peak depth / GPU busy per run. Bad input is
    one line on stderr and exit code 2.
    """
    from streams.simulate.errors import SimulateError

    try:
        _run(from_kafka, dsn, since, until, hours, scenario or [], workers or [], degrade or [], restore or [],
             elastic, arrival_scale, seed, what_if_queue_policy, tuple(search or ()), max_overload_rate,
             search_upper, jobs, as_json, charts)
    except SimulateError as exc:
        print(f"framegate simulate: {exc}", file=sys.stderr)
        raise typer.Exit(exc.exit_code) from None


def _run(from_kafka: bool, dsn: str | None, since: str | None, until: str | None, hours: float | None,
         scenario_files: list[Path], workers: list[str], degrade: list[str], restore: list[str],
         elastic: bool, arrival_scale: float, seed: int, policy_text: str | None,
         search: tuple[RouteLane, ...], max_rate: float, upper: int, jobs: int | None, as_json: bool,
         charts: Path | None) -> None:
    from schemas import DEGRADED_QUEUE_POLICY
    from streams.simulate.errors import SimulateError
    from streams.simulate.output import print_report, to_json
    from streams.simulate.run import simulate
    from streams.simulate.scenario import from_flags, load_scenario
    from streams.simulate.whatif_policy import parse_policy
    from streams.simulate.window import parse_window

    if not 0.0 <= max_rate <= 1.0:
        raise SimulateError(f"--max-overload-rate must be within 0..1, got {max_rate:g}")
    if upper < 1:
        raise SimulateError(f"--search-upper must be at least 1, got {upper}")
    if jobs is not None and jobs < 1:
        raise SimulateError(f"--jobs must be at least 1, got {jobs}")
    window = parse_window(since, until, hours)
    scenarios = [load_scenario(p) for p in scenario_files]
    flagged = workers or degrade or restore or not elastic or arrival_scale != 1.0
    if flagged:
        scenarios.append(from_flags(workers, degrade, restore, elastic, arrival_scale, seed))
    policy = parse_policy(policy_text) if policy_text else DEGRADED_QUEUE_POLICY
    settings = load_settings()
    if from_kafka:
        from streams.simulate.kafka_input import read_kafka

        history = read_kafka(settings, window)
    else:
        from streams.simulate.clickhouse_input import read_clickhouse

        history = read_clickhouse(dsn or settings.resolved_clickhouse_dsn, settings.audit_database, window)
    report = simulate(history, settings, scenarios, policy, search, max_rate, upper,
                      jobs if jobs is not None else (os.cpu_count() or 1))
    console = Console()
    if charts is not None:
        from streams.simulate.charts import render_charts

        index = render_charts(report, charts)
        if not as_json:
            console.print(f"charts: {index}")
    if as_json:
        print(json.dumps(to_json(report), indent=2))
    else:
        print_report(report, console)
