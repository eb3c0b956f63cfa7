"""The performance page is rendered from what the benchmarks record, with date, machine, command
and target beside each figure."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from docs.gen import performance_page
from tests.docs.blocks import ROOT


def _recorder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("recorded_figures", ROOT / "bench" / "recorded_figures.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_recorded_figures_render_with_their_context(tmp_path: Path) -> None:
    recorder = _recorder()
    records = tmp_path / "records.jsonl"
    argv = sys.argv
    sys.argv = [str(ROOT / "bench" / "admission_restart.py"), "--tasks", "1000"]
    try:
        recorder.record("standby takeover", 2.5, "s", "<= 10 s", records=records)
        recorder.record("restart RSS", 148.0, "MB", "<= 300 MB", records=records)
    finally:
        sys.argv = argv
    rows = performance_page.load(records)
    page = performance_page.render(rows)
    assert "## `bench/admission_restart.py`" in page
    assert "python bench/admission_restart.py --tasks 1000" in page
    assert "| standby takeover | 2.5 s | <= 10 s |" in page
    assert "| restart RSS | 148 MB | <= 300 MB |" in page
    assert rows[0]["machine"] in page and rows[0]["at"][:10] in page


def test_no_records_says_how_to_get_them(tmp_path: Path) -> None:
    page = performance_page.render(performance_page.load(tmp_path / "missing.jsonl"))
    assert "run `make bench`" in page
