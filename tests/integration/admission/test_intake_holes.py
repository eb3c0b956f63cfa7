"""A fetch that skips offsets of `tasks.requested` is read again: no request goes undecided."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from schemas import Topics
from tests.broker_io import publish_now
from tests.integration.admission.harness import REPO

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

FIRST = 6


def test_the_intake_reads_again_what_a_fetch_skipped(kafka_bootstrap: str, topics: Topics) -> None:
    publish_now(kafka_bootstrap, [(topics.tasks_requested, None, f"r{i}".encode()) for i in range(FIRST)],
                partition=0)
    done = subprocess.run(
        [sys.executable, "-m", "tests.integration.admission.intake_skip_app", kafka_bootstrap,
         topics.tasks_requested, str(FIRST)],
        cwd=REPO, capture_output=True, text=True, timeout=100, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    handed = json.loads(done.stdout.strip().splitlines()[-1])
    # the consumer was moved to FIRST + 2; the intake sought back and was handed FIRST, FIRST + 1
    assert handed == list(range(FIRST + 4))
    assert "a fetch skipped offsets 6..7" in done.stderr
