"""Synchronisation for tests: wait on a condition with a deadline, never a bare sleep."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class WaitTimeout(AssertionError):
    pass


def wait_until(
    condition: Callable[[], bool], timeout_s: float = 20.0, interval_s: float = 0.05, what: str = ""
) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise WaitTimeout(f"timed out after {timeout_s}s waiting for {what or condition}")
        time.sleep(interval_s)


async def async_wait_until(
    condition: Callable[[], bool | Awaitable[bool]],
    timeout_s: float = 20.0,
    interval_s: float = 0.05,
    what: str = "",
) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise WaitTimeout(f"timed out after {timeout_s}s waiting for {what or condition}")
        await asyncio.sleep(interval_s)
