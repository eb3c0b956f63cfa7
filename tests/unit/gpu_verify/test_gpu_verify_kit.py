"""The GPU verification kit cannot rot: its CPU path runs here on every suite run.

`bench/gpu_verify.py --device cpu --quick` runs every check's code path with tiny models (the
OOM through the settings' fault-injection seam, RSS for VRAM); the CUDA run on a lent GPU is the
same code with real sizes. What it imports is checked in a fresh interpreter: the lent GPU
machine has no Kafka, ClickHouse or service packages, and the kit must not need them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.gpu_report import Check, Report, to_json, to_markdown

ROOT = Path(__file__).resolve().parents[3]
FORBIDDEN = {"aiokafka", "kafka", "faust", "mode", "confluent_kafka", "clickhouse_connect", "chdb", "streams",
             "prometheus_client", "fastapi", "uvicorn", "testcontainers"}


def child_env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "HF_HUB_OFFLINE": "1"}


def test_the_checks_import_no_kafka_clickhouse_or_service_module() -> None:
    code = (
        "import sys, bench.gpu_verify, bench.gpu_checks; "
        "print('\\n'.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=child_env(), capture_output=True,
                          text=True, timeout=120, check=True)
    loaded = set(proc.stdout.split())
    assert {"gpu_consumers", "schemas", "pydantic"} <= loaded  # the import did reach the checks
    assert not loaded & FORBIDDEN, sorted(loaded & FORBIDDEN)


def test_quick_cpu_run_passes_every_check_and_labels_its_stand_ins(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "bench/gpu_verify.py", "--device", "cpu", "--quick", "--out", str(out)],
        cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=240, check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((out / "gpu-verification.json").read_text())
    assert report["device"] == "cpu" and report["quick"] is True and report["passed"] is True
    assert report["forbidden_modules"] == []
    checks = {c["name"]: c for c in report["checks"]}
    assert list(checks) == ["oom", "leak", "shared_lane", "pytest", "throughput"]
    assert all(c["status"] in ("pass", "info") for c in checks.values()), checks

    oom = checks["oom"]
    assert "injected" in oom["measured_as"] and "not a real CUDA OOM" in oom["measured_as"]
    assert oom["figures"]["critical"] == "gpu_oom" and oom["figures"]["retries"] == 1
    assert oom["figures"]["standard"] == "done" and oom["figures"]["next_job"] == "done"

    leak = checks["leak"]
    assert "RSS stands in" in leak["measured_as"] and leak["figures"]["failed"] == 0
    assert leak["figures"]["rss_growth_pct"] <= 1.0

    shared = checks["shared_lane"]["figures"]
    assert shared["both_loads"] == 2 and shared["both_evictions"] == 0
    assert shared["one_loads"] == shared["one_jobs"] and shared["one_evictions"] == shared["one_jobs"] - 1
    assert shared["refused_by_budget"] is True

    tests = checks["pytest"]["figures"]
    assert tests["gpu_skipped"] == tests["gpu_tests"] >= 1  # no CUDA here: the gpu-marked tests skip
    assert tests["lane_tests"] >= 1 and tests["lane_failures"] == tests["lane_errors"] == 0
    assert "FRAMEGATE_LANE_DEVICE=cpu" in checks["pytest"]["measured_as"]

    throughput = checks["throughput"]
    assert throughput["status"] == "info" and throughput["figures"]["failed"] == 0
    assert throughput["figures"]["runner_vs_bare"] > 0 and 0 < throughput["figures"]["busy"] <= 1

    markdown = (out / "gpu-verification.md").read_text()
    assert "| check | result | measured as | figures | s |" in markdown and "PASS" in markdown


def test_a_failed_check_or_a_forbidden_module_fails_the_report_and_info_rows_do_not() -> None:
    report = Report("cuda", False, "2026-01-01T00:00:00+00:00", {"torch": "2.x"})
    report.checks = [Check("throughput", "t", "info", "job runner", {"busy": 0.5}),
                     Check("skipped", "s", "skip", "not started")]
    assert report.passed
    report.forbidden_modules = ["aiokafka"]
    assert not report.passed and "aiokafka" in to_markdown(report)
    report.forbidden_modules = []
    report.checks.append(Check("oom", "oom", "fail", "real CUDA OOM", {"retries": 0}, "no retry"))
    assert not report.passed and json.loads(to_json(report))["passed"] is False
    assert "| oom | fail |" in to_markdown(report) and "**FAIL**" in to_markdown(report)
