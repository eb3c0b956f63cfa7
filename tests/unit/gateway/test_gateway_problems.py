"""Problem documents: admission's rejections mirrored field by field, 503s always retryable."""

from __future__ import annotations

import json

import jsonschema
import pytest

from schemas.decisions import FieldError
from schemas.enums import RejectionCode
from streams.gateway import problems
from streams.gateway.problems import PROBLEM_MEDIA_TYPE, Problem
from tests import factories

PROBLEM_SCHEMA = Problem.model_json_schema()


@pytest.mark.parametrize("code", list(RejectionCode))
def test_every_rejection_code_mirrors_into_a_valid_problem(code: RejectionCode) -> None:
    extra = {}
    if code in (RejectionCode.validation_error, RejectionCode.malformed_request):
        extra["errors"] = [
            FieldError(loc=["steps"], msg="anisora requires steps=8", type="value_error")
        ]
    decision = factories.rejected(code, title=code.value.replace("_", " "), **extra)
    doc = problems.from_decision(decision, instance="/v1/tasks")
    assert doc.status == code.status and doc.code == code.value
    assert doc.type.endswith(code.value)
    assert doc.task_id == decision.task_id and doc.queue_depth == decision.queue_depth
    assert doc.retry_after_seconds == decision.retry_after_seconds
    assert [e.loc for e in doc.errors] == [e.loc for e in decision.errors]
    response = problems.response(doc)
    assert response.status_code == code.status
    assert response.media_type == PROBLEM_MEDIA_TYPE
    jsonschema.validate(json.loads(response.body), PROBLEM_SCHEMA)


def test_a_503_always_carries_retry_after() -> None:
    decision = factories.rejected(
        RejectionCode.lane_unavailable, retry_after_seconds=None, title="No lane"
    )
    response = problems.response(problems.from_decision(decision), retry_after_default=7)
    assert response.headers["Retry-After"] == "7"
    assert json.loads(response.body)["retry_after_seconds"] == 7
    with_value = problems.response(problems.from_decision(factories.rejected()))
    assert with_value.headers["Retry-After"] == "30"


def test_non_503_has_no_retry_after() -> None:
    doc = problems.problem(401, "unauthorized", "Unauthorized")
    assert "Retry-After" not in problems.response(doc).headers


def test_accepted_decision_is_not_a_problem() -> None:
    with pytest.raises(ValueError):
        problems.from_decision(factories.accepted())


def test_field_errors_are_bounded_and_typed() -> None:
    raw = [{"loc": ("a", i, "x" * 500), "msg": "m" * 5000, "type": "t"} for i in range(100)]
    errors = problems.field_errors(raw)
    assert len(errors) == 64
    assert errors[0].loc[0] == "a" and errors[0].loc[1] == 0 and len(str(errors[0].loc[2])) == 200
    assert len(errors[0].msg) == 2000
