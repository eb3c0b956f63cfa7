"""One way to do each thing: these fail when a second copy of a shared mechanism comes back.

- reading a log (holes read again, seeking by time): `schemas.log_tail` only;
- committing after the outputs are acknowledged: `schemas.acknowledged_commits`;
- building a task event: `schemas.task_events` only;
- the lane worker stays a composition of its parts.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from gpu_consumers.worker import LaneWorker

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("schemas", "streams", "gpu_consumers")

#: Files that still hold their own copy, each with why; delete an entry once it is gone.
ADOPT_AT_MERGE: dict[str, str] = {}


def users(pattern: str) -> set[str]:
    found = set()
    for top in PRODUCT:
        for path in (ROOT / top).rglob("*.py"):
            if re.search(pattern, path.read_text()):
                found.add(path.relative_to(ROOT).as_posix())
    return found - set(ADOPT_AT_MERGE)


def test_only_the_log_tail_reads_holes_again_or_seeks_by_time() -> None:
    assert users(r"HoleGuard\(") == {"schemas/log_tail.py"}
    assert users(r"\.offsets_for_times\(") == {"schemas/log_tail.py"}
    # "read to the end" is the tail's: the others read an end offset for another purpose
    assert users(r"\.end_offsets\(") == {
        "schemas/log_tail.py",
        "streams/admission/snapshot_store.py",  # the last head of a compacted topic, by offset range
        "streams/demo/audit_lag.py",  # a group's lag (end - committed): no record is read
    }
    assert {"gpu_consumers/task_ledger.py", "streams/audit/sink.py", "streams/admission/follower.py",
            "streams/admission/intake.py", "streams/simulate/kafka_input.py", "streams/gateway/feed.py",
            "streams/demo/observer.py"} <= users(r"\bLogTail\(")


def test_every_fetch_goes_through_the_log_tail_or_says_why_not() -> None:
    assert users(r"\.getmany\(") == {
        "schemas/log_tail.py",
        # fetch themselves and hand each fetch to `LogTail.take` (flow control / generations)
        "streams/audit/sink.py",
        "streams/admission/intake.py",
        "streams/admission/snapshot_store.py",  # an offset range of a compacted topic
        # one record per fetch of the lane's topic, which only the active admission writes
        "gpu_consumers/worker.py",
    }


def test_commits_after_acknowledged_outputs_go_through_the_one_helper() -> None:
    assert {"gpu_consumers/worker.py", "streams/audit/sink.py", "streams/admission/intake.py"} <= users(
        r"\b(AcknowledgedCommits|commit_after)\b")
    assert users(r"asyncio\.gather\(\*deliveries\)") == set()


def test_task_events_are_built_in_one_place() -> None:
    assert users(r"(?<!class )\bGenerationTask\(") == {"schemas/task_events.py"}


def test_the_lane_worker_run_is_a_short_composition() -> None:
    assert len(inspect.getsource(LaneWorker.run).splitlines()) <= 40
    assert len((ROOT / "gpu_consumers/worker.py").read_text().splitlines()) <= 500
