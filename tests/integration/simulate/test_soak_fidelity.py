"""Issue 15, point 4: the fidelity check on a recorded soak run, a short `bench/soak_fidelity.py`.

The real admission agent decides 90 s of varying traffic while stand-in lane workers run the
real worker loop; `anisora` is degraded and restored, bursts overflow the shared queue and get
preempted, ids are re-sent and records are malformed. The simulator, reading the Kafka logs and
(through `framegate simulate --json`) the audit sink's chDB tables, must reproduce at least 99 %
of the decisions. Long: run with `make soak`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.soak_fidelity import (
    AuditSink,
    Measured,
    Plan,
    from_clickhouse,
    from_kafka,
    record,
    report,
)
from schemas import Topics

pytestmark = [pytest.mark.soak, pytest.mark.integration, pytest.mark.timeout(900)]


def listed(m: Measured) -> list[dict[str, object]]:
    return [d.__dict__ for d in m.fidelity.disagreements]


def test_a_recorded_soak_run_is_reproduced(kafka_bootstrap: str, topics: Topics, tmp_path: Path) -> None:
    plan = Plan(minutes=1.5)
    sink = AuditSink.under(kafka_bootstrap, topics, tmp_path)
    sent = record(kafka_bootstrap, topics, tmp_path, plan, sink)
    kafka = from_kafka(kafka_bootstrap, topics)
    chdb = from_clickhouse(sink)
    report(sent, plan.minutes, [kafka, chdb])
    # the run recorded what it was meant to exercise
    recorded = kafka.outcomes
    assert recorded["rejected queue_overloaded"] > 0 and kafka.preemptions > 0, recorded
    assert sum(n for outcome, n in recorded.items() if outcome.endswith("(replayed)")) > 0, recorded
    assert recorded["rejected malformed_request"] > 0 and recorded["rejected validation_error"] > 0, recorded
    assert recorded["rejected cpu_starvation"] > 0, recorded  # the scripted starved spell
    assert len(sent.lane_commands) == 2, sent.lane_commands
    for measured in (kafka, chdb):
        assert measured.fidelity.compared >= sent.records, measured.fidelity.line()
        assert measured.fidelity.agreement >= 0.99, listed(measured)
