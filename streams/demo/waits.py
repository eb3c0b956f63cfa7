"""Bounded waits of the demo: on the tally, on probes, on scraped metrics; each fails fast when a
service died instead of waiting out its deadline."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from streams.demo.errors import DemoError
from streams.demo.metrics_scrape import scrape_all
from streams.demo.services import Service


def check_services(services: list[Service]) -> None:
    for service in services:
        if not service.alive and not service.stopped:
            raise DemoError(
                f"{service.name} exited unexpectedly; last log lines:\n{service.tail()}"
            )


async def wait_for(
    console: Console,
    what: str,
    condition: Callable[[], bool],
    services: list[Service],
    timeout_s: float,
) -> None:
    deadline = time.monotonic() + timeout_s
    with console.status(f"waiting for {what} ..."):
        while not condition():
            check_services(services)
            if time.monotonic() > deadline:
                raise DemoError(f"timed out after {timeout_s:.0f}s waiting for {what}")
            await asyncio.sleep(0.1)
    console.print(f"[green]ok[/] {what}")


async def wait_for_probe(
    console: Console,
    what: str,
    probe: Callable[[], Awaitable[str]],
    done: Callable[[str], bool],
    services: list[Service],
    timeout_s: float,
) -> None:
    """Like `wait_for`, for a condition read by an async probe."""
    deadline = time.monotonic() + timeout_s
    while not done(await probe()):
        check_services(services)
        if time.monotonic() > deadline:
            raise DemoError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        await asyncio.sleep(0.5)
    console.print(f"ok {what}")


async def progress(
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
    ) as bar_view:
        bar = bar_view.add_task(what, total=len(task_ids))
        while not done(task_ids):
            check_services(services)
            if time.monotonic() > deadline:
                raise DemoError(f"timed out after {timeout_s:.0f}s: {what}")
            bar_view.update(bar, completed=sum(1 for t in task_ids if done([t])))
            await asyncio.sleep(0.2)
        bar_view.update(bar, completed=len(task_ids))


async def scrape_until(url: str, needle: str, into: list[str], timeout_s: float) -> None:
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
