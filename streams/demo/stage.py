"""The stage every chapter of the demo plays on: the embedded stack, the services, the clients,
and what the scenario has recorded so far. `set_stage` brings it all up; every process and client
it starts is registered on the caller's exit stack, so whatever happens they are stopped."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaProducer
from rich.console import Console

from schemas import GenerationRequest, RouteLane
from schemas.settings import Settings
from streams.demo.errors import DemoError
from streams.demo.gateway_client import Gateway
from streams.demo.metrics_scrape import scrape_all
from streams.demo.observer import Observer
from streams.demo.options import DemoOptions
from streams.demo.scenario import DEMO_OPERATOR, RequestFactory
from streams.demo.services import Service, run_command
from streams.demo.tally import Tally
from streams.demo.waits import check_services, progress, wait_for
from streams.local_stack.broker import LocalBroker, free_port
from streams.local_stack.topics import create_topics

#: Every process that gets a port of its own; the standby admission joins in its chapter.
PORT_NAMES = ("admission", "admission-standby", "anisora", "phr00t", "shared", "audit", "gateway")
#: Services whose /metrics the demo scrapes between chapters (the lanes by lane name).
SCRAPED = ("admission", "anisora", "phr00t", "shared", "audit", "gateway")


@dataclass
class Stack:
    """The broker, the settings every service gets, and the operator's API key."""

    run_id: str
    run_dir: Path
    broker: LocalBroker
    env: dict[str, str]
    ports: dict[str, int]
    api_key: str


@dataclass
class Stage:
    settings: Settings
    console: Console
    options: DemoOptions
    stack: Stack
    services: list[Service]
    observer: Observer
    producer: AIOKafkaProducer
    gateway: Gateway
    factory: RequestFactory
    #: service -> the URL of its /metrics (admission's moves to the survivor of a failover)
    metric_paths: dict[str, str]
    #: service -> its /metrics exposition, scraped between chapters, in order
    timeline: dict[str, list[str]]
    #: monotonic time the run started, for the report's window
    started: float
    #: phase -> the task ids submitted in it, in order
    phases: dict[str, list[str]] = field(default_factory=dict)
    #: what the gateway answered in the fault chapters, by situation
    answers: dict[str, str] = field(default_factory=dict)
    #: the scenario's moments (label, UTC), drawn on the report's time axes
    marks: list[tuple[str, datetime]] = field(default_factory=list)

    def mark(self, label: str) -> None:
        self.marks.append((label, datetime.now(UTC)))

    @property
    def tally(self) -> Tally:
        return self.observer.tally

    @property
    def host(self) -> str:
        return self.settings.bind_host

    def service(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)

    async def command(self, *args: str, env: dict[str, str] | None = None) -> str:
        """A short `framegate` command with the stack's settings, run to completion."""
        return await asyncio.to_thread(run_command, list(args), env or self.stack.env)

    async def submit(self, phase: str, requests: list[GenerationRequest]) -> list[str]:
        """Straight onto tasks.requested, acknowledged; the ids are recorded under `phase`."""
        for request in requests:
            await self.producer.send(
                self.settings.topics.tasks_requested,
                key=request.task_id.encode(),
                value=request.to_wire(),
            )
        await self.producer.flush()
        ids = [r.task_id for r in requests]
        self.phases.setdefault(phase, []).extend(ids)
        return ids

    async def snapshot(self, *names: str) -> None:
        """Scrape the named services' /metrics (all of them by default) onto the timeline."""
        await scrape_into(self.timeline, self.metric_paths, names)

    async def wait(self, what: str, condition: Callable[[], bool], timeout_s: float) -> None:
        await wait_for(self.console, what, condition, self.services, timeout_s)

    async def progress(
        self, what: str, task_ids: list[str], done: Callable[[list[str]], bool], timeout_s: float
    ) -> None:
        await progress(self.console, what, task_ids, done, self.services, timeout_s)


async def set_stage(
    settings: Settings, console: Console, options: DemoOptions, resources: AsyncExitStack
) -> Stage:
    started = time.monotonic()
    stack = await _start_stack(settings, console, options, resources)
    return await _start_services(settings, console, options, stack, started, resources)


async def _start_stack(
    settings: Settings, console: Console, options: DemoOptions, resources: AsyncExitStack
) -> Stack:
    """The embedded stack: broker, topics, tiny models, ClickHouse schema, the operator's key."""
    run_id = f"demo{uuid.uuid4().hex[:6]}"
    run_dir = settings.resolved_data_dir / "demo" / run_id
    model_dir = settings.resolved_data_dir / "models"
    host = settings.bind_host
    console.rule(f"[bold]framegate demo[/] {run_id}")

    broker = LocalBroker(port=free_port(host), host=host, log_path=run_dir / "logs" / "broker.log")
    run_dir.joinpath("logs").mkdir(parents=True, exist_ok=True)
    broker.start()
    resources.callback(broker.stop)
    console.print(f"broker: tansu on {broker.bootstrap} (pid {broker.pid})")
    await create_topics(broker.bootstrap, settings.topics)
    ports = {name: free_port(host) for name in PORT_NAMES}
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
        # long enough to outlast a standby admission's takeover (chapter 7)
        "FRAMEGATE_GATEWAY_DECISION_TIMEOUT_S": "30",
        "FRAMEGATE_GATEWAY_PUBLISH_TIMEOUT_S": "2",
        # chapter 6: the lane raises a CUDA OOM on the first run of these tasks (a drill)
        "FRAMEGATE_LANE_FAULT_OOM_TASK_PREFIX": f"{run_id}-oom-",
        "FRAMEGATE_LANE_STEP_DELAY_S": str(options.step_delay_s),
        "FRAMEGATE_LANE_HEARTBEAT_INTERVAL_S": "1.0",
        "HF_HUB_OFFLINE": "1",
    }
    if not (model_dir / "anisora").is_dir() or not (model_dir / "phr00t").is_dir():
        console.print("building tiny random-weight models (offline) ...")
        await asyncio.to_thread(run_command, ["models", "build-tiny", str(model_dir)], env)
    await asyncio.to_thread(run_command, ["audit", "migrate"], env)
    scopes = [
        arg for s in ("tasks:submit", "tasks:read", "tasks:critical") for arg in ("--scope", s)
    ]
    key_output = await asyncio.to_thread(
        run_command, ["gateway", "keys", "add", DEMO_OPERATOR, *scopes], env
    )
    api_key = next(
        line.strip() for line in key_output.splitlines() if line.strip().startswith("fgk.")
    )
    console.print(f"models: {model_dir}; ClickHouse (chDB): {run_dir / 'clickhouse'}")
    return Stack(run_id, run_dir, broker, env, ports, api_key)


async def _start_services(
    settings: Settings,
    console: Console,
    options: DemoOptions,
    stack: Stack,
    started: float,
    resources: AsyncExitStack,
) -> Stage:
    """Admission, one worker per lane, audit sink, gateway, and the demo's own clients."""
    host, ports, env = settings.bind_host, stack.ports, stack.env
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
    services: list[Service] = []
    # one callback for the whole list: services that join later are stopped too
    resources.callback(_stop_all, services)
    logs = stack.run_dir / "logs"
    for name, args, extra in specs:
        services.append(Service(name, args, {**env, **extra}, logs / f"{name}.log").start())
    console.print("services: " + ", ".join(f"{s.name} (pid {s.pid})" for s in services))

    observer = Observer(stack.broker.bootstrap, settings.topics, settings.broker)
    await observer.start()
    resources.push_async_callback(observer.stop)
    tally = observer.tally
    await wait_for(
        console,
        "lanes warm and ready",
        lambda: all(tally.lanes[lane].warm for lane in RouteLane),
        services,
        180.0,
    )
    # Six processes importing torch at once push load1 past cores x 1.5, which the withdrawal
    # policy rightly reads as cpu_starvation: let the host settle before playing the scenario.
    await wait_for(
        console,
        "host load below the cpu_starvation threshold",
        tally.host_settled,
        services,
        180.0,
    )
    metric_paths = {name: f"http://{host}:{ports[name]}/metrics" for name in SCRAPED}
    timeline: dict[str, list[str]] = {name: [] for name in metric_paths}
    await scrape_into(timeline, metric_paths, ())

    producer = AIOKafkaProducer(**settings.broker.producer_kwargs(stack.broker.bootstrap))
    await producer.start()
    resources.push_async_callback(producer.stop)
    gateway = Gateway(f"http://{host}:{ports['gateway']}", stack.api_key)
    deadline = time.monotonic() + 60.0
    while not await gateway.healthy():
        check_services(services)
        if time.monotonic() > deadline:
            raise DemoError("the gateway did not become healthy within 60s")
        await asyncio.sleep(0.2)
    return Stage(
        settings=settings,
        console=console,
        options=options,
        stack=stack,
        services=services,
        observer=observer,
        producer=producer,
        gateway=gateway,
        factory=RequestFactory(stack.run_id),
        metric_paths=metric_paths,
        timeline=timeline,
        started=started,
    )


async def scrape_into(
    timeline: dict[str, list[str]], paths: dict[str, str], names: tuple[str, ...]
) -> None:
    texts = await scrape_all({n: paths[n] for n in names or tuple(paths)})
    for name, text in texts.items():
        if text:
            timeline[name].append(text)


def _stop_all(services: list[Service]) -> None:
    for service in services:
        service.stop()
