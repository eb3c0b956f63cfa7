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
ADOPT_AT_MERGE = {
    "streams/admission/follower.py": "the lead adopts schemas.log_tail at merge",
    "streams/admission/faust_transport.py": "being removed by the Faust rewrite",
    "streams/simulate/synthetic.py": "its seed history adopts schemas.task_events (outside this change)",
}


def users(pattern: str) -> set[str]:
    found = set()
    for top in PRODUCT:
        for path in (ROOT / top).rglob("*.py"):
            if re.search(pattern, path.read_text()):
                found.add(path.relative_to(ROOT).as_posix())
    return found - set(ADOPT_AT_MERGE)


def test_only_the_log_tail_reads_holes_again_or_seeks_by_time() -> None:
    # The admission intake (a consumer group whose commits wait for the outputs) still guards
    # its own fetches; moving it onto LogTail is what issue 24 leaves open.
    assert users(r"HoleGuard\(") == {"schemas/log_tail.py", "streams/admission/intake.py"}
    assert users(r"\.offsets_for_times\(") == {"schemas/log_tail.py"}
    assert {"gpu_consumers/task_ledger.py", "streams/audit/sink.py"} <= users(r"\bLogTail\(")


def test_commits_after_acknowledged_outputs_go_through_the_one_helper() -> None:
    assert {"gpu_consumers/worker.py", "streams/audit/sink.py"} <= users(r"\b(AcknowledgedCommits|commit_after)\b")
    assert users(r"asyncio\.gather\(\*deliveries\)") == set()


def test_task_events_are_built_in_one_place() -> None:
    assert users(r"(?<!class )\bGenerationTask\(") == {"schemas/task_events.py"}


def test_the_lane_worker_run_is_a_short_composition() -> None:
    assert len(inspect.getsource(LaneWorker.run).splitlines()) <= 40
    assert len((ROOT / "gpu_consumers/worker.py").read_text().splitlines()) <= 500
