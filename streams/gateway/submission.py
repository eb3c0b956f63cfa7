"""`POST /v1/tasks` after auth: bounded body read, parse, publish, bounded wait for the decision."""

from __future__ import annotations

import time
from typing import Any

from fastapi import Request
from pydantic import ValidationError

from schemas.decisions import AdmissionDecision
from schemas.enums import RejectionCode
from schemas.limits import MAX_PAYLOAD_BYTES
from schemas.requests import GenerationRequest
from streams.gateway import problems
from streams.gateway.decisions import wait_for_decision
from streams.gateway.errors import BrokerUnavailable, ProblemError
from streams.gateway.problems import GatewayCode
from streams.gateway.state import GatewayState


async def read_body(request: Request) -> bytes:
    """Reads at most MAX_PAYLOAD_BYTES + 1: an oversize body is refused without buffering it all."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_PAYLOAD_BYTES:
        raise _malformed(f"payload of {declared} bytes exceeds the {MAX_PAYLOAD_BYTES}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_PAYLOAD_BYTES:
            raise _malformed(f"payload exceeds the {MAX_PAYLOAD_BYTES}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _malformed(detail: str) -> ProblemError:
    return ProblemError(
        problems.problem(422, RejectionCode.malformed_request.value, "Malformed request", detail)
    )


def parse(body: bytes) -> GenerationRequest:
    try:
        return GenerationRequest.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        if any(err.get("type") == "json_invalid" for err in errors) or not body.strip():
            raise _malformed("The body is not a JSON object.") from None
        raise ProblemError(
            problems.problem(
                422,
                RejectionCode.validation_error.value,
                "Validation error",
                f"{len(errors)} field(s) failed validation.",
                errors=problems.field_errors(errors),
            )
        ) from None


def _unavailable(
    state: GatewayState, code: GatewayCode, title: str, detail: str, **extra: Any
) -> ProblemError:
    return ProblemError(
        problems.problem(
            503,
            code.value,
            title,
            detail,
            retry_after_seconds=state.settings.gateway_retry_after_s,
            **extra,
        )
    )


async def submit(state: GatewayState, request: GenerationRequest) -> AdmissionDecision:
    settings = state.settings
    if len(state.waiters) >= settings.gateway_max_inflight:
        raise _unavailable(
            state,
            GatewayCode.gateway_overloaded,
            "Gateway overloaded",
            f"{settings.gateway_max_inflight} requests are already waiting for decisions.",
        )
    if not state.feed.ready.is_set():
        state.metrics.broker_unavailable.labels(stage="feed").inc()
        raise _unavailable(
            state,
            GatewayCode.broker_unavailable,
            "Broker unavailable",
            "The decision feed is not connected to Kafka; nothing was published.",
        )
    future = state.waiters.register(request.task_id)
    state.metrics.inflight.set(len(state.waiters))
    try:
        try:
            await state.publisher.publish(request)
        except BrokerUnavailable as exc:
            state.metrics.broker_unavailable.labels(stage="publish").inc()
            raise _unavailable(
                state,
                GatewayCode.broker_unavailable,
                "Broker unavailable",
                f"Kafka did not take the request ({exc}); nothing was admitted.",
            ) from None
        state.metrics.published.inc()
        started = time.monotonic()
        decision = await wait_for_decision(future, settings.gateway_decision_timeout_s)
        if decision is None:
            state.metrics.decision_timeouts.inc()
            raise _unavailable(
                state,
                GatewayCode.decision_timeout,
                "Decision timeout",
                f"The request was published but admission did not decide within "
                f"{settings.gateway_decision_timeout_s:g}s. Retrying with the same task_id is safe: "
                "admission answers an already-decided task with its original decision.",
                task_id=request.task_id,
            )
        state.metrics.decision_wait.observe(time.monotonic() - started)
        return decision
    finally:
        state.waiters.discard(request.task_id, future)
        state.metrics.inflight.set(len(state.waiters))
