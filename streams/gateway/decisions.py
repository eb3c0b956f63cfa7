"""Requests waiting for their admission decision, resolved by task_id as decisions arrive."""

from __future__ import annotations

import asyncio

from schemas.decisions import AdmissionDecision


class DecisionWaiters:
    """task_id -> futures of the HTTP requests waiting on it (a retried task_id waits twice).

    Registration happens before the request is published, so a decision can never arrive
    unseen between publishing and waiting.
    """

    def __init__(self) -> None:
        self._waiting: dict[str, list[asyncio.Future[AdmissionDecision]]] = {}

    def __len__(self) -> int:
        return sum(len(futures) for futures in self._waiting.values())

    def register(self, task_id: str) -> asyncio.Future[AdmissionDecision]:
        future: asyncio.Future[AdmissionDecision] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(task_id, []).append(future)
        return future

    def discard(self, task_id: str, future: asyncio.Future[AdmissionDecision]) -> None:
        futures = self._waiting.get(task_id)
        if futures and future in futures:
            futures.remove(future)
            if not futures:
                del self._waiting[task_id]

    def resolve(self, decision: AdmissionDecision) -> int:
        """Wakes everyone waiting on the decision's task; returns how many were waiting."""
        if decision.task_id is None:
            return 0
        futures = self._waiting.pop(decision.task_id, [])
        for future in futures:
            if not future.done():
                future.set_result(decision)
        return len(futures)

    def cancel_all(self) -> None:
        for futures in self._waiting.values():
            for future in futures:
                future.cancel()
        self._waiting.clear()


async def wait_for_decision(
    future: asyncio.Future[AdmissionDecision], timeout_s: float
) -> AdmissionDecision | None:
    """The decision, or None when it did not arrive within `timeout_s` (the wait is bounded)."""
    try:
        return await asyncio.wait_for(asyncio.shield(future), timeout_s)
    except TimeoutError:
        return None
