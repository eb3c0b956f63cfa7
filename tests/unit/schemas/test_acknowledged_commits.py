"""Commit only after the outputs are acknowledged: in input order, never past a failed output."""

from __future__ import annotations

import asyncio

import pytest

from schemas.acknowledged_commits import AcknowledgedCommits, commit_after


def test_commit_waits_for_every_output() -> None:
    async def scenario() -> list[str]:
        seen: list[str] = []
        output: asyncio.Future[object] = asyncio.get_running_loop().create_future()

        async def commit() -> None:
            seen.append("commit")

        step = asyncio.create_task(commit_after([output], commit))
        await asyncio.sleep(0)
        seen.append("before ack")
        output.set_result(None)
        await step
        return seen

    assert asyncio.run(scenario()) == ["before ack", "commit"]


def test_commits_stay_in_input_order_with_one_in_flight() -> None:
    async def scenario() -> list[int]:
        commits = AcknowledgedCommits()
        done: list[int] = []
        first: asyncio.Future[object] = asyncio.get_running_loop().create_future()

        def committing(n: int):  # type: ignore[no-untyped-def]
            async def commit() -> None:
                done.append(n)

            return commit

        await commits.schedule([first], committing(1))
        assert commits.in_flight
        second = asyncio.create_task(commits.schedule([], committing(2)))
        await asyncio.sleep(0)
        assert done == []  # the second input's step waits for the first one's
        first.set_result(None)
        await second
        await commits.settle()
        assert not commits.in_flight
        return done

    assert asyncio.run(scenario()) == [1, 2]


def test_a_failed_output_raises_at_every_later_step_and_nothing_commits() -> None:
    async def scenario() -> list[int]:
        commits = AcknowledgedCommits()
        done: list[int] = []
        failed: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        failed.set_exception(OSError("delivery failed"))

        async def commit() -> None:
            done.append(1)

        await commits.schedule([failed], commit)
        with pytest.raises(OSError):
            await commits.settle()  # e.g. a revocation settling the step
        with pytest.raises(OSError):  # the loop's next input still learns of the loss
            await commits.schedule([], commit)
        with pytest.raises(OSError):
            await commits.settle()
        return done

    assert asyncio.run(scenario()) == []
