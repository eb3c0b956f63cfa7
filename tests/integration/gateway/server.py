"""The gateway served by uvicorn on a free loopback port, in a thread, stopped on exit."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn

from schemas.settings import Settings, load_settings
from schemas.topics import Topics
from streams.gateway.app import create_app
from streams.gateway.auth import Scope, add_key
from streams.gateway.http_server import server_config
from streams.local_stack.broker import free_port
from tests.waiting import wait_until

ALL_SCOPES = {Scope.submit, Scope.read, Scope.critical}


def gateway_settings(
    bootstrap: str, topics: Topics, keys_file: Path, **overrides: object
) -> Settings:
    fields: dict[str, object] = {
        "kafka_bootstrap": bootstrap,
        "topic_prefix": topics.prefix,
        "gateway_keys_file": keys_file,
        "gateway_decision_timeout_s": 10.0,
        "gateway_publish_timeout_s": 3.0,
        "gateway_retry_after_s": 2,
    }
    fields.update(overrides)
    return load_settings(**fields)


def make_keys(path: Path) -> dict[str, str]:
    """One key per interesting scope set, named for what it may do."""
    return {
        "submit": add_key(path, "submitter", {Scope.submit, Scope.read}, producer="batch-producer"),
        "critical": add_key(path, "ops", ALL_SCOPES, producer="ops-console"),
        "reader": add_key(path, "reader", {Scope.read}),
    }


@contextmanager
def serve(settings: Settings, ready_feed: bool = True) -> Iterator[str]:
    """Yields the base URL; waits until the gateway answers (and its decision feed is ready)."""
    port = free_port()
    server = uvicorn.Server(
        server_config(create_app(settings), settings, "127.0.0.1", port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="gateway-uvicorn", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            health = httpx.get(f"{base}/healthz", timeout=2)
        except httpx.HTTPError:
            return False
        return health.status_code == 200 or not ready_feed

    try:
        wait_until(up, timeout_s=30, what="gateway up")
        yield base
    finally:
        server.should_exit = True
        thread.join(30)
