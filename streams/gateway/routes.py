"""The gateway's HTTP routes on one `APIRouter`; `create_app` includes it.

Order of checks on `POST /v1/tasks`, each refusing before the next runs: API key (401) and
scope (403) -> content type (415) -> body size and shape (422) -> `critical` scope (403) ->
in-flight cap, broker and decision feed (503) -> publish -> bounded wait -> the decision
mirrored (202 / 403 / 422 / 503).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from schemas.enums import DecisionOutcome, Priority, RejectionCode
from streams.gateway import problems
from streams.gateway.auth import AuthFailure, Principal, Scope
from streams.gateway.dependencies import require, require_json
from streams.gateway.errors import ProblemError
from streams.gateway.problem_catalog import PROBLEMS_PATH, render_markdown
from streams.gateway.problems import GatewayCode, Problem
from streams.gateway.responses import Health, TaskAccepted
from streams.gateway.state import GatewayState, gateway_state
from streams.gateway.status import TaskStatusView
from streams.gateway.submission import parse, read_body, submit

router = APIRouter()


def _problem_content(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description}


AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _problem_content("Missing or invalid API key (`code=unauthorized`)."),
    403: _problem_content("The key lacks the scope this operation needs (`code=forbidden`)."),
}


@router.post(
    "/v1/tasks",
    status_code=202,
    response_model=TaskAccepted,
    summary="Submit a generation request and wait (bounded) for its admission decision",
    responses={
        **AUTH_RESPONSES,
        403: _problem_content(
            "Insufficient scope (`forbidden`), or `critical` priority without "
            "the `tasks:critical` scope (`priority_not_authorised`)."
        ),
        415: _problem_content(
            "The body was not sent as `application/json` (`unsupported_media_type`); "
            "nothing was read or published."
        ),
        422: _problem_content(
            "Malformed body (`malformed_request`) or field errors "
            "(`validation_error`, with `errors[]`), from the gateway or admission."
        ),
        503: _problem_content(
            "Refused by admission (`queue_overloaded`, `gpu_quota_exhausted`, `cpu_starvation`, "
            "`io_saturation`, `lane_unavailable`), or by the gateway: `broker_unavailable`, "
            "`gateway_overloaded`, `decision_timeout` (published, no decision within "
            "`gateway_decision_timeout_s`; retry with the same task_id). Always has Retry-After."
        ),
    },
)
async def submit_task(
    request: Request,
    response: Response,
    principal: Principal = Depends(require(Scope.submit)),
    _json: None = Depends(require_json),
    state: GatewayState = Depends(gateway_state),
) -> TaskAccepted | JSONResponse:
    metrics = state.metrics
    generation = parse(await read_body(request))
    if generation.priority is Priority.critical and not principal.allows(Scope.critical):
        metrics.auth_failures.labels(reason=AuthFailure.scope.value).inc()
        raise ProblemError(
            problems.problem(
                403,
                RejectionCode.priority_not_authorised.value,
                "Priority not authorised",
                f"`critical` priority needs the `{Scope.critical.value}` scope.",
                task_id=generation.task_id,
            )
        )
    # The producer identity is the key's, whatever the body claimed: admission's
    # authorised-producer rule for `critical` then applies to who really sent it.
    generation = generation.model_copy(update={"producer": principal.producer})
    decision = await submit(state, generation)
    metrics.decisions.labels(
        outcome=decision.outcome.value, code=decision.code.value if decision.code else ""
    ).inc()
    if decision.outcome is DecisionOutcome.rejected:
        raise ProblemError(problems.from_decision(decision))
    response.headers["Location"] = f"/v1/tasks/{generation.task_id}"
    return TaskAccepted.from_decision(decision)


@router.get(
    "/v1/tasks/{task_id}",
    response_model=TaskStatusView,
    summary="The task's current status (from admission decisions and events.task)",
    responses={
        **AUTH_RESPONSES,
        404: _problem_content("No such task known to this gateway (`not_found`)."),
        422: _problem_content("Invalid task id (`validation_error`)."),
    },
)
async def task_status(
    task_id: str,
    principal: Principal = Depends(require(Scope.read)),
    state: GatewayState = Depends(gateway_state),
) -> TaskStatusView:
    view = state.book.get(task_id)
    if view is None:
        raise ProblemError(
            problems.problem(
                404,
                GatewayCode.not_found.value,
                "Task not found",
                "No decision or status event for this task_id yet.",
                task_id=task_id[:128],
            )
        )
    return view


@router.get(
    "/healthz",
    response_model=Health,
    summary="Liveness and readiness",
    responses={503: {"model": Health, "description": "Not ready: broker or feed down."}},
)
async def healthz(response: Response, state: GatewayState = Depends(gateway_state)) -> Health:
    ready = state.broker_ready
    if not ready:
        response.status_code = 503
        response.headers["Retry-After"] = str(state.settings.gateway_retry_after_s)
    return Health(
        status="ok" if ready else "unavailable",
        broker=state.publisher.connected,
        decision_feed=state.feed.ready.is_set(),
        api_keys=len(state.keys.current()),
        inflight=len(state.waiters),
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def prometheus_metrics(state: GatewayState = Depends(gateway_state)) -> Response:
    # derived on scrape from the same state as /healthz, never set on the side
    state.metrics.broker_up.set(int(state.broker_ready))
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


_PROBLEMS_PAGE = render_markdown()


@router.get(
    PROBLEMS_PATH,
    summary="What each problem `type` means (every problem's `type` is `/problems#<code>`)",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/markdown": {"schema": {"type": "string"}}}}},
)
async def problem_types() -> PlainTextResponse:
    return PlainTextResponse(_PROBLEMS_PAGE, media_type="text/markdown; charset=utf-8")
