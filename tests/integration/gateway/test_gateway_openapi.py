"""Schemathesis against the published OpenAPI: every response documented and schema-valid,
no 5xx but the documented (always retryable) 503s; with the real admission agent accepting, with
its shared queue overloaded, and with no broker at all."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from schemas.topics import Topics
from streams.local_stack.broker import free_port
from tests.integration.gateway.live_admission import LiveAdmission, live_admission
from tests.integration.gateway.server import gateway_settings, make_keys, serve

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(240),
    # schemathesis' own strategies draw from `random`; that is theirs to fix, not a test bug
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

Mode = Literal["accept", "overload"]


@pytest.fixture(scope="module")
def admission(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveAdmission]:
    with live_admission(kafka_bootstrap, tmp_path_factory.mktemp("admission")) as live:
        yield live


CHECKS = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
OPERATIONS = [("/v1/tasks", "POST"), ("/v1/tasks/{task_id}", "GET"), ("/healthz", "GET")]
MODES = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]


def valid_cases(schema: Any) -> st.SearchStrategy[schemathesis.Case]:
    """Random bodies almost never pass the model constraints; these do (varied task_id, model,
    priority), so accepted and refused-by-admission answers are checked against the spec too."""
    submit = schema["/v1/tasks"]["POST"]
    return st.builds(
        lambda task_id, model, priority: submit.Case(
            body={
                "task_id": task_id,
                "model": model,
                "priority": priority,
                "prompt": "fuzz",
                "type": "text_to_video",
                "steps": 8 if model == "anisora" else 4,
                "cfg": 1.0,
                "width": 64,
                "height": 48,
                "num_frames": 9,
                "fps": 8,
            },
            media_type="application/json",
        ),
        st.from_regex(r"\Afz-[a-z0-9]{1,20}\Z"),
        st.sampled_from(["anisora", "phr00t"]),
        st.sampled_from(["critical", "standard", "background"]),
    )


def fuzz(base: str, keys: dict[str, str], examples: int) -> dict[int, int]:
    """Returns how often each status was seen."""
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    generated = st.one_of(
        [
            schema[path][method].as_strategy(generation_mode=mode)
            for path, method in OPERATIONS
            for mode in MODES
        ]
    )
    seen: dict[int, int] = {}

    def call(case: schemathesis.Case, key: str | None) -> None:
        case.headers = {
            k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"
        }
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        response = case.call(base_url=base, headers=headers, timeout=30)
        case.validate_response(response, checks=CHECKS)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        assert response.status_code < 500 or response.status_code == 503, response.text
        if response.status_code == 503:
            retry_after = {k.lower(): v for k, v in response.headers.items()}["retry-after"]
            assert int(retry_after[0] if isinstance(retry_after, list) else retry_after) >= 0
        if key is None and case.operation.path.startswith("/v1/"):
            assert response.status_code == 401

    any_key = st.sampled_from(
        [None, keys["critical"], keys["submit"], keys["reader"], "fgk.x.notavalidkey00000"]
    )
    fuzz_settings = settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )

    @fuzz_settings
    @given(case=generated, key=any_key)
    def generated_requests(case: schemathesis.Case, key: str | None) -> None:
        call(case, key)

    @fuzz_settings
    @given(case=valid_cases(schema), key=st.sampled_from([keys["critical"], keys["submit"]]))
    def valid_requests(case: schemathesis.Case, key: str) -> None:
        call(case, key)

    generated_requests()
    valid_requests()
    print(f"schemathesis statuses: {dict(sorted(seen.items()))}")
    return seen


@pytest.mark.parametrize("mode", ["accept", "overload"])
def test_openapi_conformance_on_a_live_broker(
    mode: Mode, admission: LiveAdmission, tmp_path: Path
) -> None:
    keys = make_keys(tmp_path / "keys.json")
    config = gateway_settings(admission.bootstrap, admission.topics, tmp_path / "keys.json")
    with serve(config) as base:
        if mode == "overload":
            admission.fill_shared_queue()
        overloaded_before = admission.overloaded()
        seen = fuzz(base, keys, examples=80)
    if mode == "accept":
        assert seen.get(202, 0) > 0
    else:
        # admission itself refused requests the fuzzer sent, for the full shared queue
        assert seen.get(503, 0) > 0 and admission.overloaded() > overloaded_before


def test_openapi_conformance_with_the_broker_down(tmp_path: Path) -> None:
    keys = make_keys(tmp_path / "keys.json")
    config = gateway_settings(
        f"127.0.0.1:{free_port()}", Topics(), tmp_path / "keys.json", gateway_publish_timeout_s=1.0
    )
    with serve(config, ready_feed=False) as base:
        seen = fuzz(base, keys, examples=40)
    assert seen.get(503, 0) > 0 and 202 not in seen
