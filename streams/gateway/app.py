"""`create_app(settings)`: the FastAPI gateway in front of `tasks.requested`.

The application wires the parts together: state (`state.py`), routes (`routes.py`, one
`APIRouter`), auth and content-type dependencies (`dependencies.py`), the OpenAPI patches
(`openapi.py`), and the handlers that turn every error into a problem document.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from schemas.enums import RejectionCode
from schemas.settings import Settings
from streams.gateway import problems
from streams.gateway.auth import KeyRing
from streams.gateway.errors import ProblemError
from streams.gateway.openapi import custom_openapi
from streams.gateway.problems import GatewayCode
from streams.gateway.routes import router
from streams.gateway.state import GatewayState

log = logging.getLogger(__name__)

__all__ = ["GatewayState", "ProblemError", "create_app"]


def _route_label(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", "<unmatched>"))


def _lifespan(state: GatewayState) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
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
            state.waiters.cancel_all()
            await state.publisher.stop()

    return lifespan


def _install_handlers(app: FastAPI, settings: Settings) -> None:
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


def create_app(settings: Settings, keys: KeyRing | None = None) -> FastAPI:
    state = GatewayState.build(settings, keys)
    app = FastAPI(
        title="framegate gateway",
        version="1",
        description="Submit video generation requests; each is admitted or refused before it "
        "reaches a GPU. Failures are RFC 9457 problem documents (application/problem+json); "
        "each problem's `type` is a section of `GET /problems`.",
        lifespan=_lifespan(state),
    )
    app.state.gateway = state

    @app.middleware("http")
    async def observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.monotonic()
        response = await call_next(request)
        route = _route_label(request)
        state.metrics.requests.labels(
            route=route, method=request.method, status=str(response.status_code)
        ).inc()
        state.metrics.request_duration.labels(route=route, method=request.method).observe(
            time.monotonic() - started
        )
        return response

    _install_handlers(app, settings)
    app.include_router(router)
    app.openapi = custom_openapi(app)  # type: ignore[method-assign]
    return app
