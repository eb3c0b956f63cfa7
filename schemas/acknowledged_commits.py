"""Commit an input only after the outputs it caused are acknowledged, one commit at a time.

At-least-once: an input's offset (or checkpoint) may move past it only once everything it
produced is delivered, or a crash between the two loses the output for good. Waiting for the
outputs in line with the work would put a broker round trip between every two inputs, so the
wait and the commit run in the background, overlapping the next input; the next input's step
first settles the previous one, so commits stay in input order with at most one in flight, and
a failed delivery is raised at the next `schedule` or `settle`, and at every one after it, so no
later input commits once an output was lost.

Shared by admission's request intake, the lane worker and the audit sink (no Kafka here: the
commit is a callable), so all three keep one rule for it, as they share `log_tail` and
`broker_profile`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable


async def commit_after(outputs: Iterable[Awaitable[object]], commit: Callable[[], Awaitable[None]]) -> None:
    """Await every output, then commit; a failed output raises and nothing is committed."""
    await asyncio.gather(*outputs)
    await commit()


class AcknowledgedCommits:
    """The background step of the last input: its outputs' deliveries, then its commit."""

    def __init__(self) -> None:
        self._step: asyncio.Task[None] | None = None
        #: The first failed step's error: raised again by every later call.
        self.failure: Exception | None = None

    @property
    def in_flight(self) -> bool:
        return self._step is not None

    async def schedule(self, outputs: Iterable[Awaitable[object]], commit: Callable[[], Awaitable[None]]) -> None:
        """Settle the previous input's step, then start this one's in the background."""
        await self.settle()
        self._step = asyncio.create_task(commit_after(list(outputs), commit))

    async def settle(self) -> None:
        """Wait for the last step (raising its failed delivery or commit, or an earlier one's)."""
        if self.failure is not None:
            raise self.failure
        step, self._step = self._step, None
        if step is not None:
            try:
                await step
            except Exception as exc:
                self.failure = exc
                raise
