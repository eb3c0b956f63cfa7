"""The demo scenario end to end (shorter variant), asserted from ClickHouse rows.

Also the metric check of issue 6: every metric family a framegate service declares has at
least one sample that changed while the scenario ran.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from rich.console import Console

from schemas.settings import Settings
from streams.demo.metrics_scrape import samples, unchanged_families
from streams.demo.run import DemoOptions, DemoResult, play

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    data_dir: Path = tmp_path_factory.mktemp("demo")
    settings = Settings(data_dir=data_dir)
    options = DemoOptions(normal_per_lane=2, fallback_requests=2, burst=32, recovery_requests=2)
    console = Console(file=(data_dir / "console.txt").open("w"), width=120)
    return asyncio.run(play(settings, console, options))


def test_normal_load_runs_on_the_dedicated_lanes(demo: DemoResult) -> None:
    assert demo.summary.lanes_by_phase["normal"] == {"anisora": 2, "phr00t": 2}


def test_lane_failure_activates_the_shared_fallback(demo: DemoResult) -> None:
    assert ("anisora", "capacity") in demo.summary.fallback_activations
    assert demo.summary.lanes_by_phase["fallback"] == {"shared": 2}


def test_burst_beyond_25_is_refused_with_queue_overloaded(demo: DemoResult) -> None:
    assert demo.summary.peak_depth["shared"] == 25
    assert demo.summary.refused_by_code.get("queue_overloaded", 0) >= 1


def test_critical_preempts_a_background_request(demo: DemoResult) -> None:
    critical = demo.task_ids["burst"][-1]
    assert critical.split("-")[1] == "critical"
    assert demo.summary.preempted >= 1
    assert demo.summary.lanes_by_phase["burst"].get("shared", 0) >= 1


def test_recovered_lane_takes_its_traffic_back(demo: DemoResult) -> None:
    assert demo.summary.lanes_by_phase["recovery"] == {"anisora": 2}


def test_every_accepted_task_finished(demo: DemoResult) -> None:
    assert demo.summary.status_counts.get("done", 0) >= 2 + 2 + 2 + 2
    assert set(demo.summary.status_counts) <= {"done", "failed"}


def test_memory_events_recorded_per_lane(demo: DemoResult) -> None:
    lanes = {lane for lane, event, _ in demo.summary.memory_peaks if event == "memory_post_generation"}
    assert {"anisora", "phr00t", "shared"} <= lanes


def test_report_written(demo: DemoResult) -> None:
    assert demo.report_path is not None and demo.report_path.exists()
    assert list(demo.report_path.parent.glob("*.png"))


def test_every_declared_metric_family_changed(demo: DemoResult) -> None:
    for service, after in demo.metrics_after.items():
        assert samples(after), f"{service} exposed no framegate_ metric families"
        assert unchanged_families(demo.metrics_before[service], after) == [], service
