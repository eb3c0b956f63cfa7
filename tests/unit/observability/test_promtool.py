"""compose/prometheus.yml and compose/alerts.yml through `promtool` (Debian's `prometheus`
package, installed by .ci/run when apt can): config and rules check, and the rule unit tests in
compose/alerts.test.yml, which must cover every alert. Skipped where promtool is absent."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "compose"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.skip("promtool not installed (Debian package `prometheus`)")
    return subprocess.run(
        [binary, *args], cwd=COMPOSE, capture_output=True, text=True, timeout=120, check=False
    )


def test_prometheus_config_is_valid() -> None:
    result = promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_are_valid() -> None:
    result = promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rule_unit_tests_pass() -> None:
    result = promtool("test", "rules", "alerts.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_wrong_expectation_fails(tmp_path: Path) -> None:
    """The unit tests can fail: the same file with one expected label changed is refused."""
    tests = yaml.safe_load((COMPOSE / "alerts.test.yml").read_text())
    tests["rule_files"] = [str(COMPOSE / "alerts.yml")]
    first = next(
        t for case in tests["tests"] for t in case["alert_rule_test"] if t["exp_alerts"]
    )
    first["exp_alerts"][0]["exp_labels"]["severity"] = "page-everyone"
    broken = tmp_path / "broken.test.yml"
    broken.write_text(yaml.safe_dump(tests))
    result = promtool("test", "rules", str(broken))
    assert result.returncode != 0


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    rules = yaml.safe_load((COMPOSE / "alerts.yml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    config = yaml.safe_load((COMPOSE / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    tests = yaml.safe_load((COMPOSE / "alerts.test.yml").read_text())
    assert tests["rule_files"] == ["alerts.yml"]
    cases = [t for case in tests["tests"] for t in case["alert_rule_test"]]
    firing = {t["alertname"] for t in cases if t["exp_alerts"]}
    quiet = {t["alertname"] for t in cases if not t["exp_alerts"]}
    assert firing == alerts, sorted(alerts ^ firing)
    assert quiet == alerts, sorted(alerts ^ quiet)
