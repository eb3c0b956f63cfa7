"""The demo's closing numbers, read from ClickHouse rows (not from logs or memory)."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.table import Table

from schemas import DEGRADED_QUEUE_POLICY
from streams.clickhouse_client import connect


@dataclass
class DemoSummary:
    accepted: int = 0
    refused_by_code: dict[str, int] = field(default_factory=dict)
    preempted: int = 0
    status_counts: dict[str, int] = field(default_factory=dict)
    failed_by_code: dict[str, int] = field(default_factory=dict)
    #: Tasks done on a later attempt: an OOM caught and retried one step lower, or a restart.
    done_after_retry: int = 0
    peak_depth: dict[str, int] = field(default_factory=dict)
    fallback_activations: list[tuple[str, str]] = field(default_factory=list)
    memory_peaks: dict[tuple[str, str, str], float] = field(default_factory=dict)
    lanes_by_phase: dict[str, dict[str, int]] = field(default_factory=dict)

    def render(self) -> Table:
        table = Table(title="framegate demo: what happened (from ClickHouse)", show_lines=False)
        table.add_column("measure")
        table.add_column("value", justify="right")
        table.add_row("accepted", str(self.accepted))
        for code, n in sorted(self.refused_by_code.items()):
            table.add_row(f"refused: {code}", str(n))
        table.add_row("background preempted by critical", str(self.preempted))
        for status, n in sorted(self.status_counts.items()):
            table.add_row(f"tasks {status}", str(n))
        for code, n in sorted(self.failed_by_code.items()):
            table.add_row(f"failed: {code}", str(n))
        table.add_row(
            "done on a later attempt (OOM step-down, restart)", str(self.done_after_retry)
        )
        for lane, depth in sorted(self.peak_depth.items()):
            table.add_row(
                f"peak queue depth, {lane} lane",
                f"{depth} / {DEGRADED_QUEUE_POLICY.max_depth}" if lane == "shared" else str(depth),
            )
        for lane, reason in self.fallback_activations:
            table.add_row(f"fallback_activated ({lane})", reason)
        for (lane, event, unit), value in sorted(self.memory_peaks.items()):
            table.add_row(f"peak {event}, {lane} lane ({unit})", f"{value:.3f}")
        for phase, lanes in self.lanes_by_phase.items():
            table.add_row(
                f"phase {phase}: accepted per lane",
                ", ".join(f"{k}={v}" for k, v in sorted(lanes.items())),
            )
        return table


def summarise(dsn: str, database: str, phases: dict[str, list[str]]) -> DemoSummary:
    client = connect(dsn)
    try:
        db = database
        summary = DemoSummary()
        # A task's final decision: a refusal wins, since the only decision that follows an
        # acceptance is a preemption (decisions of one batch can share a millisecond).
        latest = f"""
            SELECT task_id,
                   if(countIf(outcome = 'rejected') > 0, 'rejected', 'accepted') AS final_outcome,
                   anyIf(code, outcome = 'rejected') AS final_code,
                   anyIf(reason, outcome = 'rejected') AS final_reason,
                   anyIf(lane, outcome = 'accepted') AS accepted_lane
            FROM {db}.admission_decisions FINAL
            WHERE task_id IS NOT NULL AND NOT replayed AND NOT decided_earlier
            GROUP BY task_id"""
        for outcome, code, reason, n in client.query(
            f"SELECT final_outcome, final_code, final_reason, count() FROM ({latest}) "
            "GROUP BY final_outcome, final_code, final_reason"
        ).result_rows:
            if outcome == "accepted":
                summary.accepted += n
            else:
                summary.refused_by_code[code] = summary.refused_by_code.get(code, 0) + n
                if reason == "preempted":
                    summary.preempted += n
        summary.status_counts = {
            str(status): int(n)
            for status, n in client.query(
                f"SELECT status, count() FROM {db}.tasks_current GROUP BY status"
            ).result_rows
        }
        summary.failed_by_code = {
            str(code): int(n)
            for code, n in client.query(
                f"SELECT error_code, count() FROM {db}.tasks_current WHERE status = 'failed' GROUP BY error_code"
            ).result_rows
        }
        summary.done_after_retry = int(
            client.query(
                f"SELECT count() FROM {db}.tasks_current WHERE status = 'done' AND attempts > 0"
            ).result_rows[0][0]
        )
        summary.peak_depth = {
            lane: int(depth)
            for lane, depth in client.query(
                f"SELECT lane, max(queue_depth) FROM {db}.admission_decisions FINAL "
                "WHERE lane IS NOT NULL AND queue_depth IS NOT NULL GROUP BY lane"
            ).result_rows
        }
        # In the order admission published them (one partition of events.memory), not by clock.
        summary.fallback_activations = [
            (str(lane), str(reason))
            for lane, reason in client.query(
                f"SELECT ifNull(lane, ''), reason FROM {db}.memory_events FINAL "
                "WHERE event_type = 'fallback_activated' ORDER BY kafka_partition, kafka_offset"
            ).result_rows
        ]
        summary.memory_peaks = {
            (str(lane), str(event), str(unit)): float(value)
            for lane, event, unit, value in client.query(
                f"SELECT lane, event_type, value_unit, max(value) FROM {db}.memory_events FINAL "
                "WHERE event_type IN ('memory_post_generation', 'memory_cleanup') AND value IS NOT NULL "
                "GROUP BY lane, event_type, value_unit"
            ).result_rows
        }
        for phase, task_ids in phases.items():
            rows = client.query(
                f"SELECT accepted_lane, count() FROM ({latest}) "
                "WHERE final_outcome = 'accepted' AND task_id IN {ids:Array(String)} GROUP BY accepted_lane",
                parameters={"ids": task_ids},
            ).result_rows
            summary.lanes_by_phase[phase] = {str(lane): int(n) for lane, n in rows}
        return summary
    finally:
        client.close()
