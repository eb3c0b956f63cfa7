"""The docs site builds in strict mode: a broken link or anchor, a page missing from the nav, or a
mkdocstrings target that does not import fails the suite as it fails `make docs`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.docs.blocks import ROOT


def test_the_site_builds_strict(tmp_path: Path) -> None:
    site = tmp_path / "site"
    run = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(site)],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    home = (site / "index.html").read_text()
    # the answers a new reader looks for are one click from the home page
    for target in ("getting-started/first-request/#from-python-with-aiokafka",
                   "problems/#queue_overloaded",
                   "operators/runbooks/#framegatelaneheartbeatsstale",
                   "simulate/#how-many-workers-search",
                   "analyst-guide/#admission_decisions"):
        assert target in home, target
    assert (site / "producers" / "schemas" / "GenerationRequest.schema.json").exists()
    assert (site / "img" / "demo-decisions.png").exists()
