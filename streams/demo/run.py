"""`framegate demo`: start the embedded stack, play the contract scenario, summarise, report.

Read top to bottom: 1 stack up, 2 services up, 3 normal load, 4 lane failure and fallback,
5 burst beyond the queue limit, 6 critical preempts background, 7 recovery, 8 bad input and an
injected CUDA OOM, 9 the active admission is killed while a request waits and the standby takes
over, 10 drain and stop, 11 the broker
goes away under the gateway, 12 summary from ClickHouse and the report.

Every service's /metrics is scraped between chapters (`DemoResult.metrics`), so a test can check
that each declared metric family moved.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaProducer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from schemas import GenerationRequest, LaneMode, MemoryEventType, ModelName, Priority, RouteLane
from schemas.settings import Settings
from streams.demo.gateway_client import Gateway
from streams.demo.metrics_scrape import scrape_all
from streams.demo.observer import Observer
from streams.demo.scenario import DEMO_OPERATOR, RequestFactory
from streams.demo.services import Service, run_command
from streams.demo.summary import DemoSummary, summarise
from streams.local_stack.broker import LocalBroker, free_port
from streams.local_stack.topics import create_topics


class DemoError(RuntimeError):
    pass


@dataclass
class DemoOptions:
    """Knobs the end-to-end test turns down; the defaults are the full demo."""

    normal_per_lane: int = 6
    fallback_requests: int = 4
    burst: int = 40
    recovery_requests: int = 4
    #: Seconds added to each denoising step, so a burst really fills the shared queue.
    step_delay_s: float = 0.05
    phase_timeout_s: float = 240.0
    write_report: bool = True


@dataclass
class DemoResult:
    run_dir: Path
    summary: DemoSummary
    task_ids: dict[str, list[str]] = field(default_factory=dict)
    #: service -> its /metrics exposition, scraped between chapters, in order
    metrics: dict[str, list[str]] = field(default_factory=dict)
    #: what the gateway answered in the fault chapters, by situation
    gateway_answers: dict[str, str] = field(default_factory=dict)
    report_path: Path | None = None


def run_demo(settings: Settings, console: Console, options: DemoOptions | None = None) -> int:
    result = asyncio.run(play(settings, console, options or DemoOptions()))
    console.print(result.summary.render())
    if result.report_path:
        console.print(f"report: [bold]{result.report_path}[/]")
    console.print(f"logs, artifacts and ClickHouse data: {result.run_dir}")
    return 0


async def play(settings: Settings, console: Console, options: DemoOptions) -> DemoResult:
    run_id = f"demo{uuid.uuid4().hex[:6]}"
    run_dir = settings.resolved_data_dir / "demo" / run_id
    model_dir = settings.resolved_data_dir / "models"
    host = settings.bind_host
    started = time.monotonic()
    console.rule(f"[bold]framegate demo[/] {run_id}")

    # 1. The embedded stack: broker, topics, tiny models, ClickHouse schema.
    broker = LocalBroker(port=free_port(host), host=host, log_path=run_dir / "logs" / "broker.log")
    run_dir.joinpath("logs").mkdir(parents=True, exist_ok=True)
    broker.start()
    services: list[Service] = []
    observer: Observer | None = None
    try:
        console.print(f"broker: tansu on {broker.bootstrap} (pid {broker.pid})")
        await create_topics(broker.bootstrap, settings.topics)
        ports = {
            name: free_port(host)
            for name in ("admission", "admission-standby", "anisora", "phr00t", "shared", "audit",
                         "gateway")
        }
        env = {
            "FRAMEGATE_KAFKA_BOOTSTRAP": broker.bootstrap,
            "FRAMEGATE_BROKER_PROFILE": settings.broker_profile,
            "FRAMEGATE_TOPIC_PREFIX": settings.topic_prefix,
            "FRAMEGATE_DATA_DIR": str(run_dir),
            "FRAMEGATE_MODEL_DIR": str(model_dir),
            "FRAMEGATE_ARTIFACT_DIR": str(run_dir / "artifacts"),
            "FRAMEGATE_CLICKHOUSE_DSN": f"chdb://{run_dir / 'clickhouse'}",
            "FRAMEGATE_ADMISSION_CRITICAL_PRODUCERS": json.dumps([DEMO_OPERATOR]),
            "FRAMEGATE_ADMISSION_WEB_PORT": str(ports["admission"]),
            "FRAMEGATE_AUDIT_METRICS_PORT": str(ports["audit"]),
            # the active admission snapshots its state every few seconds of the short scenario
            "FRAMEGATE_ADMISSION_SNAPSHOT_INTERVAL_S": "5",
            "FRAMEGATE_GATEWAY_PORT": str(ports["gateway"]),
            # long enough to outlast a standby admission's takeover (chapter 9)
            "FRAMEGATE_GATEWAY_DECISION_TIMEOUT_S": "30",
            "FRAMEGATE_GATEWAY_PUBLISH_TIMEOUT_S": "2",
            # chapter 8: the lane raises a CUDA OOM on the first run of these tasks (a drill)
            "FRAMEGATE_LANE_FAULT_OOM_TASK_PREFIX": f"{run_id}-oom-",
            "FRAMEGATE_LANE_STEP_DELAY_S": str(options.step_delay_s),
            "FRAMEGATE_LANE_HEARTBEAT_INTERVAL_S": "1.0",
            "HF_HUB_OFFLINE": "1",
        }
        if not (model_dir / "anisora").is_dir() or not (model_dir / "phr00t").is_dir():
            console.print("building tiny random-weight models (offline) ...")
            await asyncio.to_thread(run_command, ["models", "build-tiny", str(model_dir)], env)
        await asyncio.to_thread(run_command, ["audit", "migrate"], env)
        key_output = await asyncio.to_thread(
            run_command,
            [
                "gateway",
                "keys",
                "add",
                DEMO_OPERATOR,
                *_scopes("tasks:submit", "tasks:read", "tasks:critical"),
            ],
            env,
        )
        api_key = next(
            line.strip() for line in key_output.splitlines() if line.strip().startswith("fgk.")
        )
        console.print(f"models: {model_dir}; ClickHouse (chDB): {run_dir / 'clickhouse'}")

        # 2. Services: admission, one worker per lane, audit sink, gateway (the standby admission
        # joins in chapter 9, so the host settles with one process fewer).
        specs: list[tuple[str, list[str], dict[str, str]]] = [
            ("admission", ["admission"], {}),
            *[
                (
                    f"lane-{lane.value}",
                    ["lane", lane.value],
                    {"FRAMEGATE_LANE_METRICS_PORT": str(ports[lane.value])},
                )
                for lane in RouteLane
            ],
            ("audit-sink", ["audit-sink"], {}),
            ("gateway", ["gateway"], {}),
        ]
        for name, args, extra in specs:
            services.append(
                Service(name, args, {**env, **extra}, run_dir / "logs" / f"{name}.log").start()
            )
        console.print("services: " + ", ".join(f"{s.name} (pid {s.pid})" for s in services))

        observer = Observer(broker.bootstrap, settings.topics, settings.broker)
        await observer.start()
        tally = observer.tally
        await _wait(
            console,
            "lanes warm and ready",
            lambda: all(tally.lanes[lane].warm for lane in RouteLane),
            services,
            180.0,
        )
        # Six processes importing torch at once push load1 past cores x 1.5, which the withdrawal
        # policy rightly reads as cpu_starvation: let the host settle before playing the scenario.
        await _wait(
            console,
            "host load below the cpu_starvation threshold",
            tally.host_settled,
            services,
            180.0,
        )
        metric_ports = {
            name: ports[name] for name in ("admission", "anisora", "phr00t", "shared", "audit")
        }
        metric_paths = {
            name: f"http://{host}:{port}/metrics" for name, port in metric_ports.items()
        }
        metric_paths["gateway"] = f"http://{host}:{ports['gateway']}/metrics"
        timeline: dict[str, list[str]] = {name: [] for name in metric_paths}

        async def snapshot(*names: str) -> None:
            texts = await scrape_all({n: metric_paths[n] for n in names or tuple(metric_paths)})
            for name, text in texts.items():
                if text:
                    timeline[name].append(text)

        await snapshot()
        answers: dict[str, str] = {}

        producer = AIOKafkaProducer(**settings.broker.producer_kwargs(broker.bootstrap))
        await producer.start()
        factory = RequestFactory(run_id)
        phases: dict[str, list[str]] = {}

        gateway = Gateway(f"http://{host}:{ports['gateway']}", api_key)
        deadline = time.monotonic() + 60.0
        while not await gateway.healthy():
            _check_services(services)
            if time.monotonic() > deadline:
                raise DemoError("the gateway did not become healthy within 60s")
            await asyncio.sleep(0.2)

        async def submit(name: str, requests: list[GenerationRequest]) -> list[str]:
            for request in requests:
                await producer.send(
                    settings.topics.tasks_requested,
                    key=request.task_id.encode(),
                    value=request.to_wire(),
                )
            await producer.flush()
            ids = [r.task_id for r in requests]
            phases.setdefault(name, []).extend(ids)
            return ids

        try:
            # 3. Normal load on both dedicated lanes.
            console.rule("1. normal load on the dedicated lanes")
            # one request per lane goes through the HTTP gateway, the rest straight onto Kafka
            via_http = [factory.make(model, "normal") for model in ModelName]
            for request in via_http:
                answer = await gateway.submit(request)
                console.print(f"gateway: POST /v1/tasks {request.task_id} -> {answer}")
            phases["normal"] = [r.task_id for r in via_http]
            normal = await submit(
                "normal",
                factory.batch(ModelName.anisora, "normal", options.normal_per_lane - 1)
                + factory.batch(ModelName.phr00t, "normal", options.normal_per_lane - 1),
            )
            normal = phases["normal"]
            await _progress(
                console, "decided + done", normal, tally.settled, services, options.phase_timeout_s
            )

            # 4. The anisora lane fails for capacity: its traffic falls back to the shared lane.
            console.rule("2. anisora lane fails (capacity): fallback to the shared lane")
            await asyncio.to_thread(
                run_command, ["lane", "degrade", "anisora", "--reason", "capacity"], env
            )
            await _wait(
                console,
                "fallback_activated",
                lambda: tally.memory_events[MemoryEventType.fallback_activated] >= 1,
                services,
                60.0,
            )
            fallback = await submit(
                "fallback", factory.batch(ModelName.anisora, "fallback", options.fallback_requests)
            )
            # the shared lane's share of chapter 6's OOM drill: it only runs work while degraded
            fallback += await submit("oom", [factory.make(ModelName.anisora, "oom")])
            await _progress(console, "fallback decided", fallback, tally.decided, services, 60.0)

            # 5+6. A background burst beyond 25, then a critical request that preempts one.
            console.rule("3. burst beyond the shared queue limit; 4. critical preempts background")
            burst = factory.batch(ModelName.anisora, "burst", options.burst, Priority.background)
            burst_ids = await submit("burst", burst)
            await _progress(console, "burst decided", burst_ids, tally.decided, services, 60.0)
            # through the gateway: it stamps the key's producer, which admission trusts for critical
            critical = factory.make(ModelName.anisora, "critical", Priority.critical)
            answer = await gateway.submit(critical)
            phases["burst"].append(critical.task_id)
            console.print(f"gateway: critical {critical.task_id} -> {answer}")
            await _progress(
                console, "preemption decided", [critical.task_id], tally.decided, services, 60.0
            )
            console.print(f"preempted for it: {', '.join(sorted(tally.preempted)) or 'none'}")

            # 7. Capacity is back: the lane returns to dedicated mode.
            console.rule("5. anisora lane recovers: back to dedicated")
            await asyncio.to_thread(run_command, ["lane", "restore", "anisora"], env)
            await _wait(
                console,
                "anisora dedicated",
                lambda: tally.lanes[RouteLane.anisora].mode is LaneMode.dedicated,
                services,
                60.0,
            )
            await submit(
                "recovery", factory.batch(ModelName.anisora, "recovery", options.recovery_requests)
            )
            await snapshot()

            # 8. Bad input is refused with a reason and an injected CUDA OOM is retried lower.
            console.rule(
                "6. bad input is refused with a reason; a CUDA OOM is retried one step lower"
            )
            stray = factory.make(ModelName.phr00t, "unauthenticated")
            answers["no_key"] = await gateway.submit(stray, authorised=False)
            console.print(f"gateway: POST /v1/tasks without an API key -> {answers['no_key']}")
            invalid = factory.make(ModelName.phr00t, "invalid")
            too_small = {**json.loads(invalid.to_wire()), "width": 8}
            await producer.send(
                settings.topics.tasks_requested,
                key=invalid.task_id.encode(),
                value=json.dumps(too_small).encode(),
            )
            await producer.send(settings.topics.events_lane, value=b'{"event_type": "heartb')
            phases["invalid"] = [invalid.task_id]
            await submit("oom", [factory.make(model, "oom") for model in ModelName])
            oom = phases["oom"]
            await _progress(
                console, "decided + done", [invalid.task_id, *oom], tally.settled, services, 180.0
            )
            refusal = tally.decisions[invalid.task_id]
            why = "; ".join(f"{'.'.join(map(str, e.loc))}: {e.msg}" for e in refusal.errors)
            console.print(f"kafka: {invalid.task_id} -> {refusal.status} {refusal.code} ({why})")
            console.print(
                f"kafka: a truncated record on {settings.topics.events_lane} -> counted and kept "
                "in audit_rejects; nothing stopped"
            )
            for task_id in oom:
                lane = tally.decisions[task_id].lane
                console.print(
                    f"{task_id} ({lane} lane): injected CUDA OOM, retried one step lower -> "
                    f"{tally.status[task_id]}"
                )
            await snapshot()

            # 9. The active admission dies (kill -9) while a gateway client waits: the standby,
            # current all along, takes tasks.requested over and decides the waiting request.
            console.rule("7. admission dies: the standby takes over, the waiting client is answered")
            standby_env = {**env, "FRAMEGATE_ADMISSION_WEB_PORT": str(ports["admission-standby"])}
            services.append(Service("admission-standby", ["admission"], standby_env,
                                    run_dir / "logs" / "admission-standby.log").start())
            await _wait_async(
                console, "standby admission ready",
                lambda: admission_role(host, ports["admission-standby"]),
                lambda role: role in ("active", "standby"), services, 120.0,
            )
            roles = {
                name: await admission_role(host, ports[name])
                for name in ("admission", "admission-standby")
            }
            console.print("admission roles: " + ", ".join(f"{n} {r}" for n, r in roles.items()))
            active_name = next((n for n, r in roles.items() if r == "active"), None)
            if active_name is None:
                raise DemoError(f"no active admission process: {roles}")
            survivor = "admission-standby" if active_name == "admission" else "admission"
            active = next(s for s in services if s.name == active_name)
            killed_at = time.monotonic()
            active.kill()
            late = factory.make(ModelName.phr00t, "late")
            waiting = asyncio.create_task(gateway.submit(late))
            await _scrape_until(
                metric_paths["gateway"],
                "framegate_gateway_inflight_requests 1.0",
                timeline["gateway"],
                30.0,
            )
            console.print(f"killed {active_name} (kill -9); {late.task_id} waits at the gateway")
            answers["admission_failover"] = await waiting
            console.print(
                f"gateway: {late.task_id} -> {answers['admission_failover']} "
                f"{time.monotonic() - killed_at:.1f}s after the kill"
            )
            phases["late"] = [late.task_id]
            await _progress(
                console, "decided by the standby", [late.task_id], tally.settled, services, 180.0
            )
            decision = tally.decisions[late.task_id]
            console.print(
                f"{survivor} (now {await admission_role(host, ports[survivor])}): "
                f"{late.task_id} -> {decision.outcome} {decision.lane}"
            )
            # The survivor's metrics stand for admission from here on; the dead one comes back
            # as the new standby.
            metric_paths["admission"] = f"http://{host}:{ports[survivor]}/metrics"
            active.start()

            everything = [task_id for ids in phases.values() for task_id in ids]
            await _progress(
                console,
                "all accepted work done",
                everything,
                tally.settled,
                services,
                options.phase_timeout_s,
            )
            await snapshot()
        finally:
            await producer.stop()

        # 10. Stop producers of events, let the audit sink catch up, then stop it.
        for service in services:
            if service.name not in ("audit-sink", "gateway"):
                service.stop()
        sink = next(s for s in services if s.name == "audit-sink")
        from streams.demo.audit_lag import wait_audit_caught_up

        await wait_audit_caught_up(broker.bootstrap, settings, timeout_s=120.0)
        await snapshot("audit")
        sink.stop()
        await observer.stop()
        observer = None

        # 11. The broker goes away under the gateway: 503 with Retry-After, and no key is still 401.
        console.rule("8. the broker goes away: the gateway refuses, and never fails open")
        broker.stop()
        outage = factory.make(ModelName.phr00t, "outage")
        answers["broker_down"] = await gateway.submit(outage)
        answers["broker_down_no_key"] = await gateway.submit(outage, authorised=False)
        console.print(f"gateway: with a key -> {answers['broker_down']}")
        console.print(f"gateway: without a key -> {answers['broker_down_no_key']}")
        await snapshot("gateway")
        next(s for s in services if s.name == "gateway").stop()

        # 12. Summary from ClickHouse rows, and the report.
        summary = await asyncio.to_thread(
            summarise, f"chdb://{run_dir / 'clickhouse'}", settings.audit_database, phases
        )
        report_path = None
        if options.write_report:
            # the report's window is this run (plus a minute), not the default day
            hours = (time.monotonic() - started + 60.0) / 3600.0
            out = await asyncio.to_thread(run_command, ["report", "--hours", f"{hours:.4f}"], env)
            report_path = _report_path(out, run_dir)
        return DemoResult(run_dir, summary, phases, timeline, answers, report_path)
    finally:
        if observer is not None:
            await observer.stop()
        for service in services:
            service.stop()
        broker.stop()


def _scopes(*scopes: str) -> list[str]:
    return [arg for scope in scopes for arg in ("--scope", scope)]


def _report_path(output: str, run_dir: Path) -> Path | None:
    for line in output.splitlines():
        if ".html" in line:
            candidate = Path(line.split()[-1])
            if candidate.exists():
                return candidate
    found = sorted(run_dir.rglob("*.html"))
    return found[0] if found else None


def _check_services(services: list[Service]) -> None:
    for service in services:
        if not service.alive and not service.stopped:
            raise DemoError(
                f"{service.name} exited unexpectedly; last log lines:\n{service.tail()}"
            )


async def _wait(
    console: Console,
    what: str,
    condition: Callable[[], bool],
    services: list[Service],
    timeout_s: float,
) -> None:
    deadline = time.monotonic() + timeout_s
    with console.status(f"waiting for {what} ..."):
        while not condition():
            _check_services(services)
            if time.monotonic() > deadline:
                raise DemoError(f"timed out after {timeout_s:.0f}s waiting for {what}")
            await asyncio.sleep(0.1)
    console.print(f"[green]ok[/] {what}")


async def _wait_async(
    console: Console, what: str, probe: Callable[[], Awaitable[str]], done: Callable[[str], bool],
    services: list[Service], timeout_s: float,
) -> None:
    """Like `_wait`, for a condition read by an async probe."""
    deadline = time.monotonic() + timeout_s
    while not done(await probe()):
        _check_services(services)
        if time.monotonic() > deadline:
            raise DemoError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        await asyncio.sleep(0.5)
    console.print(f"ok {what}")


async def admission_role(host: str, port: int) -> str:
    """`active`, `standby` or `starting` from an admission's /healthz; `down` if it does not answer."""
    def get() -> str:
        try:
            with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=2) as answer:
                return str(json.loads(answer.read())["role"])
        except urllib.error.HTTPError as exc:
            return str(json.loads(exc.read()).get("role", "starting"))
        except (OSError, ValueError, KeyError):
            return "down"

    return await asyncio.to_thread(get)


async def _scrape_until(url: str, needle: str, into: list[str], timeout_s: float) -> None:
    """Scrape `url` until its text contains `needle`; that text is appended to `into`."""
    deadline = time.monotonic() + timeout_s
    while True:
        text = (await scrape_all({"one": url}))["one"]
        if needle in text:
            into.append(text)
            return
        if time.monotonic() > deadline:
            raise DemoError(f"timed out after {timeout_s:.0f}s waiting for {needle!r} at {url}")
        await asyncio.sleep(0.1)


async def _progress(
    console: Console,
    what: str,
    task_ids: list[str],
    done: Callable[[list[str]], bool],
    services: list[Service],
    timeout_s: float,
) -> None:
    """A progress bar over `task_ids` until `done(task_ids)` holds."""
    deadline = time.monotonic() + timeout_s
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        bar = progress.add_task(what, total=len(task_ids))
        while not done(task_ids):
            _check_services(services)
            if time.monotonic() > deadline:
                raise DemoError(f"timed out after {timeout_s:.0f}s: {what}")
            progress.update(bar, completed=sum(1 for t in task_ids if done([t])))
            await asyncio.sleep(0.2)
        progress.update(bar, completed=len(task_ids))
