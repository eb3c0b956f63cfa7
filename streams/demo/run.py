"""The demo's driver. For now: the embedded broker and topics; later issues add the scenario."""

from __future__ import annotations

import asyncio

from rich.console import Console
from rich.table import Table

from schemas.settings import Settings
from streams.local_stack.broker import LocalBroker, free_port
from streams.local_stack.topics import create_topics


def run_demo(settings: Settings, console: Console) -> int:
    port = free_port(settings.bind_host)
    with LocalBroker(port=port, host=settings.bind_host) as broker:
        console.print(f"[bold]broker[/] tansu on {broker.bootstrap} (pid {broker.pid})")
        created = asyncio.run(create_topics(broker.bootstrap, settings.topics))
        table = Table(title="topics")
        table.add_column("topic")
        table.add_column("partitions", justify="right")
        table.add_column("state")
        partitions = settings.topics.partitions()
        for name, state in created.items():
            table.add_row(name, str(partitions[name]), state)
        console.print(table)
    console.print("broker stopped")
    return 0
