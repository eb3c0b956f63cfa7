"""The plain-data core renders, byte for byte, the records the pydantic-record core wrote.

Three histories, each with every record admission published for it, recorded with the agent as it
stood before the plain-data rewrite (commit 878855b):
- `golden.jsonl.gz`: a scripted log covering every rule and path (see `record.py` beside it),
  replayed through that commit's decision path;
- `soak.jsonl.gz`: a two-minute soak run (`bench/soak_fidelity.py`: the real agent process, real
  lane workers with a stand-in pipeline, a degraded lane with overflowing bursts and preemptions,
  a host starved past `cpu_starvation`'s 30 s, re-sends, malformed records), as the live agent
  wrote it;
- `demo.jsonl.gz`: the demo's short scenario (`framegate demo`, as tests/e2e runs it), as the live
  agents wrote it, the standby's take-over included.
The edge (ingest, core, render) must publish the same records: same topics, keys, event ids and
wire bytes, in the same order. The live recordings are decided again in the live agent's own
interleaving (see `recorded.py`), and the event records admission wrote there (its `pending` and
`failed` task events, its memory events) are compared too.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.data.admission_golden.record import load, replay
from tests.data.admission_golden.recorded import (
    DEMO,
    SOAK,
    by_partition,
    decided_positions,
    load_recording,
    written_by_admission,
)
from tests.data.admission_golden.recorded import replay as replay_recording


def test_the_current_core_writes_the_recorded_records() -> None:
    records, expected = load()
    produced = replay(records)
    assert len(produced) == len(expected)
    for n, (got, want) in enumerate(zip(produced, expected, strict=True)):
        assert got == want, f"output {n} differs"


@pytest.mark.parametrize(("path", "codes"), [
    (SOAK, {"queue_overloaded", "cpu_starvation", "priority_not_authorised", "validation_error",
            "malformed_request"}),
    (DEMO, {"queue_overloaded", "validation_error"}),
], ids=["soak", "demo"])
def test_the_current_agent_writes_what_the_live_agent_wrote(path: Path, codes: set[str]) -> None:
    recording = load_recording(path)
    t = recording.topics
    expected = written_by_admission(recording)
    # The recording exercises more than the happy path, and its decisions name their positions.
    decisions = [json.loads(value) for (topic, _), records in expected.items()
                 if topic in (t.tasks_accepted, t.tasks_rejected) for _, value in records]
    assert {"accepted", "rejected"} <= {d["outcome"] for d in decisions}
    assert codes <= {d.get("code") for d in decisions}
    assert "preempted" in {d.get("reason") for d in decisions}
    assert any('"fallback_activated"' in value for _, value in expected[(t.events_memory, 0)])
    assert len(decided_positions(recording)) > len(recording.log(t.tasks_requested)) // 2

    produced = by_partition(replay_recording(recording), t)
    assert sorted(produced) == sorted(expected)
    for tp, want in expected.items():
        got = produced[tp]
        for n, (mine, theirs) in enumerate(zip(got, want, strict=False)):
            assert mine == theirs, f"{tp[0]}[{tp[1]}] record {n} differs"
        assert len(got) == len(want), f"{tp[0]}[{tp[1]}]: {len(got)} records, recorded {len(want)}"
