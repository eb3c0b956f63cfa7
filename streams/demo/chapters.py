"""The demo's chapters, one function each, played in the order of `CHAPTERS`.

1 normal load on the dedicated lanes, 2 the anisora lane fails for capacity and its traffic falls
back to the shared lane, 3 a burst beyond the shared queue limit, 4 a critical request preempts
background work, 5 the lane recovers, 6 bad input is refused and an injected CUDA OOM is retried
lower, 7 the active admission is killed while a client waits and the standby takes over, 8 the
broker goes away under the gateway.

Every chapter plays on the shared `Stage`; the chapter number printed is its place in `CHAPTERS`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from schemas import LaneMode, MemoryEventType, ModelName, Priority, RouteLane
from streams.demo.audit_lag import wait_audit_caught_up
from streams.demo.errors import DemoError
from streams.demo.services import Service
from streams.demo.stage import Stage
from streams.demo.waits import admission_role, scrape_until, wait_for_probe


async def normal_load(stage: Stage) -> None:
    factory, options = stage.factory, stage.options
    stage.mark("normal load")
    # one request per lane goes through the HTTP gateway, the rest straight onto Kafka
    via_http = [factory.make(model, "normal") for model in ModelName]
    for request in via_http:
        answer = await stage.gateway.submit(request)
        stage.console.print(f"gateway: POST /v1/tasks {request.task_id} -> {answer}")
    stage.phases["normal"] = [r.task_id for r in via_http]
    await stage.submit(
        "normal",
        factory.batch(ModelName.anisora, "normal", options.normal_per_lane - 1)
        + factory.batch(ModelName.phr00t, "normal", options.normal_per_lane - 1),
    )
    await stage.progress(
        "decided + done", stage.phases["normal"], stage.tally.settled, options.phase_timeout_s
    )


async def lane_failure_falls_back_to_shared(stage: Stage) -> None:
    tally, factory = stage.tally, stage.factory
    stage.mark("degrade")
    await stage.command("lane", "degrade", "anisora", "--reason", "capacity")
    await stage.wait(
        "fallback_activated",
        lambda: tally.memory_events[MemoryEventType.fallback_activated] >= 1,
        60.0,
    )
    fallback = await stage.submit(
        "fallback", factory.batch(ModelName.anisora, "fallback", stage.options.fallback_requests)
    )
    # the shared lane's share of chapter 6's OOM drill: it only runs work while degraded
    fallback += await stage.submit("oom", [factory.make(ModelName.anisora, "oom")])
    await stage.progress("fallback decided", fallback, tally.decided, 60.0)


async def burst_beyond_the_queue_limit(stage: Stage) -> None:
    burst = stage.factory.batch(
        ModelName.anisora, "burst", stage.options.burst, Priority.background
    )
    # The shared worker holds still (SIGSTOP, as if its GPU were busy) until the critical request
    # is decided: otherwise it may start a queued item between the burst and the critical request
    # and leave the latter a free place instead of a background one to preempt. It stays paused
    # well inside its group session and heartbeat staleness, so admission and Kafka see no gap.
    stage.service(f"lane-{RouteLane.shared.value}").pause()
    stage.mark("burst")
    await stage.submit("burst", burst)
    # Decided in the next chapter, with the critical request right behind it in the log.


async def critical_preempts_background(stage: Stage) -> None:
    tally = stage.tally
    burst_ids = list(stage.phases["burst"])
    # through the gateway: it stamps the key's producer, which admission trusts for critical
    critical = stage.factory.make(ModelName.anisora, "critical", Priority.critical)
    stage.mark("preemption")
    try:
        answer = await stage.gateway.submit(critical)
        stage.phases["burst"].append(critical.task_id)
        await stage.progress("burst decided", burst_ids, tally.decided, 60.0)
        stage.console.print(f"gateway: critical {critical.task_id} -> {answer}")
        await stage.progress("preemption decided", [critical.task_id], tally.decided, 60.0)
    finally:
        stage.service(f"lane-{RouteLane.shared.value}").resume()
    stage.console.print(f"preempted for it: {', '.join(sorted(tally.preempted)) or 'none'}")


async def lane_recovers(stage: Stage) -> None:
    stage.mark("restore")
    await stage.command("lane", "restore", "anisora")
    await stage.wait(
        "anisora dedicated",
        lambda: stage.tally.lanes[RouteLane.anisora].mode is LaneMode.dedicated,
        60.0,
    )
    await stage.submit(
        "recovery",
        stage.factory.batch(ModelName.anisora, "recovery", stage.options.recovery_requests),
    )
    await stage.snapshot()


async def bad_input_refused_and_oom_retried_lower(stage: Stage) -> None:
    console, factory, tally, topics = (
        stage.console,
        stage.factory,
        stage.tally,
        stage.settings.topics,
    )
    stray = factory.make(ModelName.phr00t, "unauthenticated")
    stage.answers["no_key"] = await stage.gateway.submit(stray, authorised=False)
    console.print(f"gateway: POST /v1/tasks without an API key -> {stage.answers['no_key']}")
    invalid = factory.make(ModelName.phr00t, "invalid")
    too_small = {**json.loads(invalid.to_wire()), "width": 8}
    await stage.producer.send(
        topics.tasks_requested, key=invalid.task_id.encode(), value=json.dumps(too_small).encode()
    )
    await stage.producer.send(topics.events_lane, value=b'{"event_type": "heartb')
    stage.phases["invalid"] = [invalid.task_id]
    stage.mark("OOM")
    await stage.submit("oom", [factory.make(model, "oom") for model in ModelName])
    oom = stage.phases["oom"]
    await stage.progress("decided + done", [invalid.task_id, *oom], tally.settled, 180.0)
    refusal = tally.decisions[invalid.task_id]
    why = "; ".join(f"{'.'.join(map(str, e.loc))}: {e.msg}" for e in refusal.errors)
    console.print(f"kafka: {invalid.task_id} -> {refusal.status} {refusal.code} ({why})")
    console.print(
        f"kafka: a truncated record on {topics.events_lane} -> counted and kept "
        "in audit_rejects; nothing stopped"
    )
    for task_id in oom:
        lane = tally.decisions[task_id].lane
        console.print(
            f"{task_id} ({lane} lane): injected CUDA OOM, retried one step lower -> "
            f"{tally.status[task_id]}"
        )
    await stage.snapshot()


async def standby_admission_takes_over(stage: Stage) -> None:
    """The active admission dies (kill -9) while a gateway client waits: the standby, current all
    along, takes tasks.requested over and decides the waiting request. As the last chapter with
    work in flight, it ends when everything submitted so far has settled."""
    console, host, ports = stage.console, stage.host, stage.stack.ports
    standby_env = {
        **stage.stack.env,
        "FRAMEGATE_ADMISSION_WEB_PORT": str(ports["admission-standby"]),
    }
    log = stage.stack.run_dir / "logs" / "admission-standby.log"
    stage.services.append(Service("admission-standby", ["admission"], standby_env, log).start())
    await wait_for_probe(
        console,
        "standby admission ready",
        lambda: admission_role(host, ports["admission-standby"]),
        lambda role: role in ("active", "standby"),
        stage.services,
        120.0,
    )
    roles = {
        name: await admission_role(host, ports[name]) for name in ("admission", "admission-standby")
    }
    console.print("admission roles: " + ", ".join(f"{n} {r}" for n, r in roles.items()))
    active_name = next((n for n, r in roles.items() if r == "active"), None)
    if active_name is None:
        raise DemoError(f"no active admission process: {roles}")
    survivor = "admission-standby" if active_name == "admission" else "admission"
    active = stage.service(active_name)
    killed_at = time.monotonic()
    stage.mark("kill -9")
    active.kill()
    late = stage.factory.make(ModelName.phr00t, "late")
    waiting = asyncio.create_task(stage.gateway.submit(late))
    await scrape_until(
        stage.metric_paths["gateway"],
        "framegate_gateway_inflight_requests 1.0",
        stage.timeline["gateway"],
        30.0,
    )
    console.print(f"killed {active_name} (kill -9); {late.task_id} waits at the gateway")
    stage.answers["admission_failover"] = await waiting
    console.print(
        f"gateway: {late.task_id} -> {stage.answers['admission_failover']} "
        f"{time.monotonic() - killed_at:.1f}s after the kill"
    )
    stage.phases["late"] = [late.task_id]
    await stage.progress("decided by the standby", [late.task_id], stage.tally.settled, 180.0)
    decision = stage.tally.decisions[late.task_id]
    console.print(
        f"{survivor} (now {await admission_role(host, ports[survivor])}): "
        f"{late.task_id} -> {decision.outcome} {decision.lane}"
    )
    # The survivor's metrics stand for admission from here on; the dead one comes back as the
    # new standby.
    stage.metric_paths["admission"] = f"http://{host}:{ports[survivor]}/metrics"
    active.start()

    everything = [task_id for ids in stage.phases.values() for task_id in ids]
    await stage.progress(
        "all accepted work done", everything, stage.tally.settled, stage.options.phase_timeout_s
    )
    await stage.snapshot()


async def broker_goes_away(stage: Stage) -> None:
    """First everything but the gateway stops and the audit sink catches up (the summary reads
    ClickHouse), then the broker goes: 503 with Retry-After, and no key is still 401."""
    await stage.producer.stop()
    for service in stage.services:
        if service.name not in ("audit-sink", "gateway"):
            service.stop()
    await wait_audit_caught_up(stage.stack.broker.bootstrap, stage.settings, timeout_s=120.0)
    await stage.snapshot("audit")
    stage.service("audit-sink").stop()
    await stage.observer.stop()

    stage.mark("broker gone")
    stage.stack.broker.stop()
    outage = stage.factory.make(ModelName.phr00t, "outage")
    stage.answers["broker_down"] = await stage.gateway.submit(outage)
    stage.answers["broker_down_no_key"] = await stage.gateway.submit(outage, authorised=False)
    stage.console.print(f"gateway: with a key -> {stage.answers['broker_down']}")
    stage.console.print(f"gateway: without a key -> {stage.answers['broker_down_no_key']}")
    await stage.snapshot("gateway")
    stage.service("gateway").stop()


@dataclass(frozen=True)
class Chapter:
    title: str
    play: Callable[[Stage], Awaitable[None]]
    #: Printed under one rule with the chapter after it.
    joins_next: bool = False


CHAPTERS: tuple[Chapter, ...] = (
    Chapter("normal load on the dedicated lanes", normal_load),
    Chapter(
        "anisora lane fails (capacity): fallback to the shared lane",
        lane_failure_falls_back_to_shared,
    ),
    Chapter("burst beyond the shared queue limit", burst_beyond_the_queue_limit, joins_next=True),
    Chapter("critical preempts background", critical_preempts_background),
    Chapter("anisora lane recovers: back to dedicated", lane_recovers),
    Chapter(
        "bad input is refused with a reason; a CUDA OOM is retried one step lower",
        bad_input_refused_and_oom_retried_lower,
    ),
    Chapter(
        "admission dies: the standby takes over, the waiting client is answered",
        standby_admission_takes_over,
    ),
    Chapter("the broker goes away: the gateway refuses, and never fails open", broker_goes_away),
)


def headings(chapters: Sequence[Chapter]) -> list[str | None]:
    """The rule printed before each chapter, numbered by place; None where the chapter shares the
    rule printed before the chapter ahead of it."""
    rules: list[str | None] = []
    for i, chapter in enumerate(chapters):
        if i and chapters[i - 1].joins_next:
            rules.append(None)
            continue
        titles = [f"{i + 1}. {chapter.title}"]
        j = i
        while chapters[j].joins_next and j + 1 < len(chapters):
            j += 1
            titles.append(f"{j + 1}. {chapters[j].title}")
        rules.append("; ".join(titles))
    return rules


async def play_chapters(stage: Stage, chapters: Sequence[Chapter] = CHAPTERS) -> None:
    for rule, chapter in zip(headings(chapters), chapters, strict=True):
        if rule is not None:
            stage.console.rule(rule)
        await chapter.play(stage)
