"""`framegate simulate` on bad input: one line on stderr, exit code 2, never a traceback.

Run as subprocesses: chDB holds one data directory per process, and these tests each bring
their own (real chDB, real audit schema).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


def simulate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", "simulate", *args],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        capture_output=True, text=True, timeout=120, check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("framegate simulate: ") and fragment in lines[0], lines[0]
    assert "Traceback" not in result.stderr


def audit_store(directory: Path, with_decision: bool) -> str:
    """A chDB store with the audit schema; optionally one accepted decision and no `done` event."""
    dsn = f"chdb://{directory}"
    script = textwrap.dedent(f"""
        from streams.audit.migrations import migrate
        from streams.audit.rows import TABLE_COLUMNS, Source, admission_decision_row, lane_event_row
        from streams.clickhouse_client import connect
        from tests.factories import accepted, heartbeat
        client = connect({dsn!r})
        migrate(client, "framegate", 7)
        if {with_decision!r}:
            d = accepted()
            from schemas import SourceRecord
            d = d.model_copy(update={{"source": SourceRecord(topic="t", partition=0, offset=0)}})
            client.insert("framegate.admission_decisions", [admission_decision_row(d, Source("t", 0, 0))],
                          column_names=list(TABLE_COLUMNS["admission_decisions"]))
            client.insert("framegate.lane_events", [lane_event_row(heartbeat(), Source("l", 0, 0))],
                          column_names=list(TABLE_COLUMNS["lane_events"]))
    """)
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                   check=True, timeout=120)
    return dsn


def test_an_empty_window_is_one_line_and_exit_2(tmp_path: Path) -> None:
    dsn = audit_store(tmp_path / "ch", with_decision=False)
    assert_one_line_error(simulate("--dsn", dsn), "empty window")


def test_a_window_without_done_events_is_one_line_and_exit_2(tmp_path: Path) -> None:
    dsn = audit_store(tmp_path / "ch", with_decision=True)
    assert_one_line_error(simulate("--dsn", dsn), "no `done` events")


def test_a_scenario_with_an_unknown_key_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "what-if.toml"
    path.write_text('name = "x"\nworkerz = 3\n')
    assert_one_line_error(simulate("--scenario", str(path)), "unknown key 'workerz'")


def test_an_inverted_window_is_one_line_and_exit_2() -> None:
    result = simulate("--since", "2026-01-02T00:00:00", "--until", "2026-01-01T00:00:00")
    assert_one_line_error(result, "empty window")


def test_a_bad_what_if_policy_is_one_line_and_exit_2() -> None:
    assert_one_line_error(simulate("--what-if-queue-policy", "deep"), "depth=N,wait=SECONDS")
