"""Bytes -> request or a schema-valid 422 rejection that names its source."""

from __future__ import annotations

import json

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import AdmissionDecision, GenerationRequest, RejectionCode, SourceRecord
from schemas.export import json_schema
from streams.admission import core
from streams.admission.core.facts import UnparsedFacts
from streams.admission.parsing import parse
from streams.admission.render import render
from tests.factories import T0, request

SRC = SourceRecord(topic="t.tasks.requested", partition=1, offset=42)
SCHEMA = json_schema(AdmissionDecision)


def rejected(payload: bytes | None) -> AdmissionDecision:
    out = parse(payload, SRC, T0)
    assert isinstance(out, UnparsedFacts)
    decision = render(core.decide_unparsed(core.AdmissionState(), out, T0.timestamp()), T0, None, SRC).decision
    jsonschema.validate(json.loads(decision.to_wire()), SCHEMA)
    assert decision.source == SRC
    return decision


@pytest.mark.parametrize("payload", [b"not json", b"[1,2]", b"42", None, b"x" * 70_000, b"\xff\xfe\x00"])
def test_malformed(payload: bytes | None) -> None:
    d = rejected(payload)
    assert (d.status, d.code) == (422, RejectionCode.malformed_request)


def test_validation_errors_are_field_level() -> None:
    body = json.loads(request().to_wire())
    body.update(steps=5, width="832")
    d = rejected(json.dumps(body).encode())
    assert d.code is RejectionCode.validation_error and d.task_id == body["task_id"]
    assert ["width"] in [e.loc for e in d.errors]


def test_model_constraint_violation() -> None:
    body = json.loads(request().to_wire())
    body["steps"] = 4  # anisora requires 8
    d = rejected(json.dumps(body).encode())
    assert d.code is RejectionCode.validation_error and "steps=8" in d.detail  # type: ignore[operator]


def test_valid_request_parses() -> None:
    req = request()
    assert parse(req.to_wire(), SRC, T0) == req


@settings(max_examples=200, deadline=None)
@given(st.one_of(
    st.binary(max_size=300),
    st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=50),
                 lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=20), c, max_size=6),
                 max_leaves=20).map(lambda v: json.dumps(v).encode()),
))
def test_hostile_bytes_never_raise(payload: bytes) -> None:
    out = parse(payload, SRC, T0)
    if not isinstance(out, GenerationRequest):
        decision = render(core.decide_unparsed(core.AdmissionState(), out, T0.timestamp()), T0, None, SRC).decision
        jsonschema.validate(json.loads(decision.to_wire()), SCHEMA)
