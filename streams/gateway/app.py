"""`create_app(settings)`: the FastAPI gateway in front of `tasks.requested`.

Order of checks on `POST /v1/tasks`, each refusing before the next runs: API key (401) and
scope (403) -> body size and shape (422) -> `critical` scope (403) -> in-flight cap, broker and
decision feed (503) -> publish -> bounded wait -> the decision mirrored (202 / 403 / 422 / 503).
Authentication is a dependency without a body parameter, so FastAPI reads no body before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from schemas.decisions import AdmissionDecision
from schemas.enums import DecisionOutcome, Priority, RejectionCode
from schemas.limits import MAX_PAYLOAD_BYTES
from schemas.requests import GenerationRequest
from schemas.settings import Settings
from streams.gateway import problems
from streams.gateway.auth import AuthFailure, KeyRing, Principal, Scope
from streams.gateway.decisions import DecisionWaiters, wait_for_decision
from streams.gateway.feed import GatewayFeed
from streams.gateway.metrics import GatewayMetrics
from streams.gateway.problems import GatewayCode, Problem
from streams.gateway.publisher import BrokerUnavailable, RequestPublisher
from streams.gateway.responses import Health, TaskAccepted
from streams.gateway.status import StatusBook, TaskStatusView

log = logging.getLogger(__name__)

_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer fgk.<key_id>.<secret>`")


class ProblemError(Exception):
    """Raised anywhere in a request to answer with a problem document."""

    def __init__(self, doc: Problem, headers: dict[str, str] | None = None) -> None:
        super().__init__(doc.title)
        self.doc = doc
        self.headers = headers


@dataclass
class GatewayState:
    settings: Settings
    keys: KeyRing
    metrics: GatewayMetrics
    waiters: DecisionWaiters
    book: StatusBook
    publisher: RequestPublisher
    feed: GatewayFeed

    @property
    def broker_ready(self) -> bool:
        """What /healthz and `framegate_gateway_broker_up` report: feed and producer both up."""
        return self.feed.ready.is_set() and self.publisher.connected


def _problem_content(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description}


_AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _problem_content("Missing or invalid API key (`code=unauthorized`)."),
    403: _problem_content("The key lacks the scope this operation needs (`code=forbidden`)."),
}


def _state(request: Request) -> GatewayState:
    state: GatewayState = request.app.state.gateway
    return state


def require(scope: Scope) -> Callable[..., Awaitable[Principal]]:
    async def authenticate(
        request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
    ) -> Principal:
        state = _state(request)
        if credentials is None or not credentials.credentials:
            state.metrics.auth_failures.labels(reason=AuthFailure.missing.value).inc()
            raise _unauthorized("No API key: send `Authorization: Bearer <key>`.")
        principal = state.keys.current().authenticate(credentials.credentials)
        if principal is None:
            state.metrics.auth_failures.labels(reason=AuthFailure.invalid.value).inc()
            raise _unauthorized("The API key is not valid.")
        if not principal.allows(scope):
            state.metrics.auth_failures.labels(reason=AuthFailure.scope.value).inc()
            raise ProblemError(
                problems.problem(
                    403,
                    GatewayCode.forbidden.value,
                    "Insufficient scope",
                    f"This operation needs the `{scope.value}` scope.",
                )
            )
        return principal

    return authenticate


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(
        problems.problem(401, GatewayCode.unauthorized.value, "Unauthorized", detail),
        headers={"WWW-Authenticate": 'Bearer realm="framegate"'},
    )


async def _read_body(request: Request) -> bytes:
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


def _parse(body: bytes) -> GenerationRequest:
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


async def _submit(state: GatewayState, request: GenerationRequest) -> AdmissionDecision:
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


def _route_label(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", "<unmatched>"))


def _custom_openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """FastAPI files error models under application/json; they are application/problem+json.

    The request body is read by hand (after auth), so its schema is added here.
    """

    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = spec.setdefault("components", {}).setdefault("schemas", {})
        body_schema = GenerationRequest.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        for name, sub in body_schema.pop("$defs", {}).items():
            components.setdefault(name, sub)
        components["GenerationRequestBody"] = body_schema
        for route, operations in spec["paths"].items():
            for operation in operations.values():
                for status, resp in operation.get("responses", {}).items():
                    content = resp.get("content", {})
                    if (
                        status.isdigit()
                        and int(status) >= 400
                        and "application/json" in content
                        and route.startswith("/v1/")
                    ):
                        content[problems.PROBLEM_MEDIA_TYPE] = content.pop("application/json")
                    if status == "503":
                        resp["headers"] = {
                            "Retry-After": {
                                "description": "Seconds to wait before retrying.",
                                "schema": {"type": "integer", "minimum": 0},
                            }
                        }
                    if status == "401":
                        resp["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
        submit = spec["paths"]["/v1/tasks"]["post"]
        submit["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/GenerationRequestBody"}
                }
            },
        }
        app.openapi_schema = spec
        return spec

    return build


def create_app(settings: Settings, keys: KeyRing | None = None) -> FastAPI:
    metrics = GatewayMetrics()
    waiters = DecisionWaiters()
    book = StatusBook(settings.gateway_tracked_tasks)
    state = GatewayState(
        settings=settings,
        keys=keys or KeyRing(settings.resolved_gateway_keys_file),
        metrics=metrics,
        waiters=waiters,
        book=book,
        publisher=RequestPublisher(settings),
        feed=GatewayFeed(settings, waiters, book, metrics),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        feed_task = asyncio.create_task(state.feed.run(), name="gateway-feed")
        await state.publisher.start_quietly()
        if len(state.keys.current()) == 0:
            log.warning("gateway: no API keys in %s; every request will get 401", state.keys.path)
        try:
            yield
        finally:
            feed_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feed_task
            waiters.cancel_all()
            await state.publisher.stop()

    app = FastAPI(
        title="framegate gateway",
        version="1",
        description="Submit video generation requests; each is admitted or refused before it "
        "reaches a GPU. Failures are RFC 9457 problem documents (application/problem+json).",
        lifespan=lifespan,
    )
    app.state.gateway = state

    @app.middleware("http")
    async def observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.monotonic()
        response = await call_next(request)
        route = _route_label(request)
        metrics.requests.labels(
            route=route, method=request.method, status=str(response.status_code)
        ).inc()
        metrics.request_duration.labels(route=route, method=request.method).observe(
            time.monotonic() - started
        )
        return response

    @app.exception_handler(ProblemError)
    async def on_problem(request: Request, exc: ProblemError) -> JSONResponse:
        doc = exc.doc.model_copy(update={"instance": request.url.path})
        return problems.response(doc, exc.headers, settings.gateway_retry_after_s)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: GatewayCode.not_found, 405: GatewayCode.method_not_allowed}.get(
            exc.status_code, GatewayCode.internal_error
        )
        doc = problems.problem(
            exc.status_code, code.value, str(exc.detail), instance=request.url.path
        )
        return problems.response(doc, dict(exc.headers or {}), settings.gateway_retry_after_s)

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = problems.field_errors(list(exc.errors()))
        doc = problems.problem(
            422,
            RejectionCode.validation_error.value,
            "Validation error",
            instance=request.url.path,
            errors=errors,
        )
        return problems.response(doc)

    @app.post(
        "/v1/tasks",
        status_code=202,
        response_model=TaskAccepted,
        summary="Submit a generation request and wait (bounded) for its admission decision",
        responses={
            **_AUTH_RESPONSES,
            403: _problem_content(
                "Insufficient scope (`forbidden`), or `critical` priority without "
                "the `tasks:critical` scope (`priority_not_authorised`)."
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
        request: Request, response: Response, principal: Principal = Depends(require(Scope.submit))
    ) -> TaskAccepted | JSONResponse:
        body = await _read_body(request)
        generation = _parse(body)
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
        decision = await _submit(state, generation)
        metrics.decisions.labels(
            outcome=decision.outcome.value, code=decision.code.value if decision.code else ""
        ).inc()
        if decision.outcome is DecisionOutcome.rejected:
            raise ProblemError(problems.from_decision(decision))
        response.headers["Location"] = f"/v1/tasks/{generation.task_id}"
        return TaskAccepted.from_decision(decision)

    @app.get(
        "/v1/tasks/{task_id}",
        response_model=TaskStatusView,
        summary="The task's current status (from admission decisions and events.task)",
        responses={
            **_AUTH_RESPONSES,
            404: _problem_content("No such task known to this gateway (`not_found`)."),
            422: _problem_content("Invalid task id (`validation_error`)."),
        },
    )
    async def task_status(
        task_id: str, principal: Principal = Depends(require(Scope.read))
    ) -> TaskStatusView:
        view = book.get(task_id)
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

    @app.get(
        "/healthz",
        response_model=Health,
        summary="Liveness and readiness",
        responses={503: {"model": Health, "description": "Not ready: broker or feed down."}},
    )
    async def healthz(response: Response) -> Health:
        ready = state.broker_ready
        if not ready:
            response.status_code = 503
            response.headers["Retry-After"] = str(settings.gateway_retry_after_s)
        return Health(
            status="ok" if ready else "unavailable",
            broker=state.publisher.connected,
            decision_feed=state.feed.ready.is_set(),
            api_keys=len(state.keys.current()),
            inflight=len(waiters),
        )

    @app.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def prometheus_metrics() -> Response:
        # derived on scrape from the same state as /healthz, never set on the side
        metrics.broker_up.set(int(state.broker_ready))
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.openapi = _custom_openapi(app)  # type: ignore[method-assign]
    return app
