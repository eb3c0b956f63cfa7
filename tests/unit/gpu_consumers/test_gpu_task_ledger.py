"""The task ledger's fold and its once-per-assignment catch-up (no broker: the end-offset wait is
replaced by a subclass that answers from a script; the consumer is built but never started)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from gpu_consumers.task_fold import Refused
from gpu_consumers.task_ledger import TaskLedger
from schemas.broker_profile import BROKER_PROFILES
from schemas.enums import TaskStatus
from tests.factories import task_event


class ScriptedLedger(TaskLedger):
    """`catch_up` answers from `answers` and counts calls; `during` runs inside a catch-up."""

    def __init__(self, answers: list[bool], on_invalid: Callable[[Refused], None] | None = None) -> None:
        super().__init__("events.task", {"bootstrap_servers": "127.0.0.1:9"}, profile=BROKER_PROFILES["kafka"],
                         on_invalid=on_invalid)
        self.answers = answers
        self.calls = 0
        self.during: list[str] = []

    async def catch_up(self, timeout_s: float) -> bool:
        self.calls += 1
        if self.during and self.during.pop(0) == "assign":
            self.refresh()  # an assignment lands while the catch-up is reading
        return self.answers.pop(0)


def test_catches_up_once_per_assignment_not_per_job() -> None:
    async def scenario() -> None:
        ledger = ScriptedLedger([True, True])
        assert await ledger.ensure_current(1.0)  # at start: the log is read once
        for _ in range(5):  # jobs on the same assignment: no more end-offset round trips
            assert await ledger.ensure_current(1.0)
        assert ledger.calls == 1
        ledger.refresh()  # a (re)assignment: the previous owner may have finished items
        assert await ledger.ensure_current(1.0)
        assert await ledger.ensure_current(1.0)
        assert ledger.calls == 2
        await ledger.stop()

    asyncio.run(scenario())


def test_a_failed_catch_up_is_retried_and_an_assignment_during_one_forces_another() -> None:
    async def scenario() -> None:
        ledger = ScriptedLedger([False, True, True, True])
        assert not await ledger.ensure_current(1.0)  # fail closed: the worker holds the item
        assert await ledger.ensure_current(1.0)
        assert ledger.calls == 2
        ledger.refresh()
        ledger.during = ["assign"]
        assert await ledger.ensure_current(1.0)  # covers the first assignment only
        assert await ledger.ensure_current(1.0)  # so the one that landed meanwhile reads again
        assert await ledger.ensure_current(1.0)
        assert ledger.calls == 4
        await ledger.stop()

    asyncio.run(scenario())


def test_own_events_count_at_once_and_an_illegal_log_event_is_counted_logged_and_ignored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        refused: list[Refused] = []
        ledger = ScriptedLedger([], on_invalid=refused.append)
        start, done = task_event(TaskStatus.processing, "a"), task_event(TaskStatus.done, "a")
        ledger.record(start)
        ledger.record(done)
        assert ledger.starts("a") == 1 and ledger.ended("a")  # before the log is read back
        for echo in (start, done):
            ledger.apply(echo.to_wire())
        assert ledger.starts("a") == 1 and ledger.ended("a")  # the echo is not counted twice
        zombie = task_event(TaskStatus.done, "a")  # a stalled previous owner finishing too
        ledger.apply(zombie.to_wire())
        assert refused == [Refused("a", TaskStatus.done, TaskStatus.done)]
        assert ledger.fold.invalid == 1
        assert f"ignoring task event {zombie.event_id}: done -> done" in caplog.text
        ledger.apply(b"{not json")  # not a task event at all: skipped, not an invalid transition
        assert ledger.fold.invalid == 1
        await ledger.stop()

    asyncio.run(scenario())
