"""What an operator asks of a run: accepted, refused by code, queue waits, peak depth, GPU busy.

`Tally` collects them while a run goes (the recorded history or a simulation); `Answers` is the
frozen result that output and charts read. Timelines are bucketed so a day of traffic stays small.
"""

from __future__ import annotations

from array import array
from collections import Counter, defaultdict
from dataclasses import dataclass, field, fields
from typing import Any

from schemas import DecisionOutcome, TaskStatus
from streams.simulate.history import History

#: At most this many buckets per timeline.
MAX_BUCKETS = 240


@dataclass
class Tally:
    start: float
    end: float
    accepted: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    #: Accepted items dropped unstarted by a worker after the policy's wait (`queue_timeout`).
    expired: int = 0
    #: One per started job: kept as machine doubles, not float objects (a day holds millions).
    waits: array[float] = field(default_factory=lambda: array("d"))
    peak_depth: dict[str, int] = field(default_factory=dict)
    busy_s: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    #: Worker-seconds available per lane over the window.
    worker_s: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    refused_series: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    depth_series: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(dict))
    bucket_s: float = field(init=False)

    def __post_init__(self) -> None:
        self.bucket_s = max(1.0, (self.end - self.start) / MAX_BUCKETS)

    def bucket(self, ts: float) -> int:
        return int((ts - self.start) // self.bucket_s)

    def accept(self, ts: float, lane: str, depth: int) -> None:
        self.accepted += 1
        if depth > self.peak_depth.get(lane, 0):
            self.peak_depth[lane] = depth
        series = self.depth_series[lane]
        b = int((ts - self.start) // self.bucket_s)
        if depth > series.get(b, 0):
            series[b] = depth

    def refuse(self, ts: float, code: str, preempted_acceptance: bool = False) -> None:
        if preempted_acceptance:
            self.accepted -= 1
        self.refused[code] += 1
        self.refused_series[self.bucket(ts)] += 1

    def run(self, lane: str, started: float, seconds: float) -> None:
        """Busy time of one job inside the window (comparisons, not min/max: this runs per job)."""
        stop = started + seconds
        if stop > self.end:
            stop = self.end
        inside = stop - (started if started > self.start else self.start)
        if inside > 0.0:
            self.busy_s[lane] += inside


@dataclass(frozen=True)
class Answers:
    name: str
    accepted: int
    refused: dict[str, int]
    expired: int
    wait_p50: float | None
    wait_p95: float | None
    wait_max: float | None
    peak_depth: dict[str, int]
    busy_fraction: dict[str, float]
    bucket_s: float
    refused_series: list[int]
    depth_series: dict[str, list[int]]
    outside_contract: str | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        # A search's worker process sends its answers back pickled: rebuilt through `__init__`,
        # since a compiled frozen dataclass cannot be restored one attribute at a time.
        return (Answers, tuple(getattr(self, f.name) for f in fields(self)))

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "accepted": self.accepted,
            "refused": dict(sorted(self.refused.items())),
            "expired_in_queue": self.expired,
            "queue_wait_seconds": {"p50": self.wait_p50, "p95": self.wait_p95, "max": self.wait_max},
            "peak_depth": dict(sorted(self.peak_depth.items())),
            "gpu_busy_fraction": {k: round(v, 4) for k, v in sorted(self.busy_fraction.items())},
            "outside_contract": self.outside_contract,
        }


def percentile(ordered: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default method)."""
    pos = (len(ordered) - 1) * q / 100.0
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def answers(name: str, tally: Tally, outside_contract: str | None = None) -> Answers:
    waits = sorted(tally.waits)
    has = bool(waits)
    buckets = tally.bucket(tally.end) + 1
    return Answers(
        name=name,
        accepted=tally.accepted,
        refused=dict(tally.refused),
        expired=tally.expired,
        wait_p50=round(percentile(waits, 50), 3) if has else None,
        wait_p95=round(percentile(waits, 95), 3) if has else None,
        wait_max=round(waits[-1], 3) if has else None,
        peak_depth=dict(tally.peak_depth),
        busy_fraction={lane: (tally.busy_s.get(lane, 0.0) / s if s > 0 else 0.0)
                       for lane, s in tally.worker_s.items()},
        bucket_s=tally.bucket_s,
        refused_series=[tally.refused_series.get(b, 0) for b in range(buckets)],
        depth_series={lane: [s.get(b, 0) for b in range(buckets)] for lane, s in tally.depth_series.items()},
        outside_contract=outside_contract,
    )


def recorded_answers(history: History, workers: dict[str, int]) -> Answers:
    """The same answers read off the record (waits: acceptance to the worker's `processing`)."""
    tally = Tally(history.start, history.end)
    accepted_at: dict[str, float] = {}
    for decision in sorted(history.decisions.values(), key=lambda d: d.at):
        if decision.replayed:
            continue
        ts = decision.at.timestamp()
        if decision.outcome == DecisionOutcome.accepted.value:
            tally.accept(ts, decision.lane or "-", decision.queue_depth or 0)
            if decision.task_id is not None:
                accepted_at[decision.task_id] = ts
        else:
            tally.refuse(ts, decision.code or "unknown")
    for task_id, pre in history.preemptions.items():
        tally.refuse(pre.at.timestamp(), pre.code or "queue_overloaded", task_id in accepted_at)
    started: dict[str, float] = {}
    for timed in history.task_events:
        event = timed.event
        task = getattr(event, "task", None)
        if task is None or task.id not in accepted_at:
            continue
        if task.status is TaskStatus.processing and task.id not in started:
            started[task.id] = timed.ts
            tally.waits.append(max(0.0, timed.ts - accepted_at[task.id]))
        elif task.status is TaskStatus.done and task.id in started:
            lane = getattr(event, "lane", None)
            seconds = getattr(event, "duration_seconds", None) or (timed.ts - started[task.id])
            if lane is not None:
                tally.run(lane.value, started[task.id], seconds)
        elif task.status is TaskStatus.failed and getattr(event, "error_code", None) is not None \
                and event.error_code.value == "queue_overloaded":  # type: ignore[union-attr]
            tally.expired += 1
    for lane, n in workers.items():
        tally.worker_s[lane] = n * history.duration_s
    return answers("recorded", tally)
