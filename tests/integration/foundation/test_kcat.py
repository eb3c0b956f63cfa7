"""The kcat round trip against the real local broker (skipped where kcat is absent); the docs' own kcat lines run in tests/docs/test_docs_examples.py."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from schemas import GenerationRequest, ModelName, Topics
from schemas.wire import decode
from tests import factories

pytestmark = pytest.mark.integration
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


def _kcat(
    args: list[str], data_dir: Path, stdin: str | None = None, path: str = SYSTEM_PATH
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", "kcat", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"FRAMEGATE_DATA_DIR": str(data_dir), "PATH": path},
    )


@pytest.mark.skipif(
    shutil.which("kcat") is None, reason="kcat is not installed (apt-get install kcat)"
)
def test_framegate_kcat_produces_and_consumes_a_keyed_request(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    request = factories.request(ModelName.phr00t)
    line = f"{request.task_id}:{request.to_wire().decode()}\n"
    produced = _kcat(
        ["-P", "-b", kafka_bootstrap, "-t", topics.tasks_requested, "-K:"], tmp_path, line
    )
    assert produced.returncode == 0, produced.stderr

    consumed = _kcat(
        [
            "-C",
            "-b",
            kafka_bootstrap,
            "-t",
            topics.tasks_requested,
            "-o",
            "beginning",
            "-e",
            "-f",
            "%k\t%s\n",
        ],
        tmp_path,
    )
    assert consumed.returncode == 0, consumed.stderr
    key, value = consumed.stdout.rstrip("\n").split("\t")
    assert key == request.task_id
    assert decode(GenerationRequest, value.encode()) == request


def test_framegate_kcat_says_what_is_missing(tmp_path: Path) -> None:
    missing = _kcat(["-L"], tmp_path, path=str(tmp_path))  # no kcat on this PATH
    assert missing.returncode == 2 and "apt-get install kcat" in missing.stdout
