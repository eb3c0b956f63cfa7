"""The demo's knobs and what a run hands back."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from streams.demo.summary import DemoSummary


@dataclass
class DemoOptions:
    """Knobs the end-to-end test turns down; the defaults are the full demo."""

    normal_per_lane: int = 6
    fallback_requests: int = 4
    burst: int = 40
    recovery_requests: int = 4
    #: Seconds added to each denoising step: the shared worker is still busy with its current job
    #: when the critical request arrives, so the queue is still full. Small, because the
    #: anisora service time it adds counts 24 times in the burst's expected wait (30 s at most).
    step_delay_s: float = 0.02
    phase_timeout_s: float = 240.0
    write_report: bool = True


@dataclass
class DemoResult:
    run_dir: Path
    summary: DemoSummary
    task_ids: dict[str, list[str]] = field(default_factory=dict)
    #: service -> its /metrics exposition, scraped between chapters, in order
    metrics: dict[str, list[str]] = field(default_factory=dict)
    #: what the gateway answered in the fault chapters, by situation
    gateway_answers: dict[str, str] = field(default_factory=dict)
    report_path: Path | None = None
