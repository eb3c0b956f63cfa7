"""The plain-data core renders, byte for byte, the records the pydantic-record core wrote.

`tests/data/admission_golden/golden.jsonl.gz` holds a scripted log (every rule and path; see
`record.py` beside it) and every record admission published for it, recorded with the core as it
stood before the plain-data rewrite. The edge (ingest, core, render) must publish the same
records: same topics, keys, event ids and wire bytes, in the same order.
"""

from __future__ import annotations

from tests.data.admission_golden.record import load, replay


def test_the_current_core_writes_the_recorded_records() -> None:
    records, expected = load()
    produced = replay(records)
    assert len(produced) == len(expected)
    for n, (got, want) in enumerate(zip(produced, expected, strict=True)):
        assert got == want, f"output {n} differs"
