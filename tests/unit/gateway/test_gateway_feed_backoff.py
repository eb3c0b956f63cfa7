"""The decision feed reconnects with capped exponential backoff with jitter, and stops on cancel."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from tenacity import AsyncRetrying, RetryCallState

from schemas.settings import load_settings
from streams.gateway.decisions import DecisionWaiters
from streams.gateway.feed import RETRY_MAX_S, RETRY_MIN_S, GatewayFeed, reconnect_wait
from streams.gateway.metrics import GatewayMetrics
from streams.gateway.status import StatusBook
from streams.local_stack.broker import free_port
from tests.waiting import async_wait_until


def _feed(tmp_path: Path) -> GatewayFeed:
    settings = load_settings(
        kafka_bootstrap=f"127.0.0.1:{free_port()}", data_dir=tmp_path,
        gateway_publish_timeout_s=1.0,
    )
    return GatewayFeed(settings, DecisionWaiters(), StatusBook(10), GatewayMetrics())


def _waits(attempts: int) -> list[float]:
    wait = reconnect_wait()
    waits = []
    for n in range(1, attempts + 1):
        state = RetryCallState(AsyncRetrying(), fn=None, args=(), kwargs={})
        state.attempt_number = n
        waits.append(float(wait(state)))
    return waits


def test_backoff_doubles_is_capped_and_jittered() -> None:
    runs = [_waits(8) for _ in range(5)]
    for waits in runs:
        for n, wait in enumerate(waits, start=1):
            floor = min(RETRY_MIN_S * 2 ** (n - 1), RETRY_MAX_S)
            assert floor <= wait <= min(floor + RETRY_MIN_S, RETRY_MAX_S), (n, wait)
        assert waits[-1] == RETRY_MAX_S
    # jitter: replicas that lost the broker together do not retry in lockstep
    assert len({round(run[0], 6) for run in runs}) > 1


def test_feed_keeps_retrying_a_closed_port_until_cancelled(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    feed = _feed(tmp_path)

    async def scenario() -> None:
        task = asyncio.create_task(feed.run())
        with caplog.at_level(logging.WARNING, logger="streams.gateway.feed"):
            await async_wait_until(
                lambda: sum("retrying in" in r.getMessage() for r in caplog.records) >= 2,
                timeout_s=30, what="two reconnect attempts",
            )
        assert not feed.ready.is_set()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
