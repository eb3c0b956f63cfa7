"""Request dependencies that refuse before the body is read: API key and scope, content type.

Neither takes a body parameter, so FastAPI reads no body before they have run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from streams.gateway import problems
from streams.gateway.auth import AuthFailure, Principal, Scope
from streams.gateway.errors import ProblemError
from streams.gateway.problems import GatewayCode
from streams.gateway.state import GatewayState, gateway_state

JSON_MEDIA_TYPE = "application/json"

bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer fgk.<key_id>.<secret>`")


def unauthorized(detail: str) -> ProblemError:
    return ProblemError(
        problems.problem(401, GatewayCode.unauthorized.value, "Unauthorized", detail),
        headers={"WWW-Authenticate": 'Bearer realm="framegate"'},
    )


def require(scope: Scope) -> Callable[..., Awaitable[Principal]]:
    """Dependency: the caller's `Principal`, refused 401 (no/invalid key) or 403 (scope)."""

    async def authenticate(
        state: GatewayState = Depends(gateway_state),
        credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
    ) -> Principal:
        if credentials is None or not credentials.credentials:
            state.metrics.auth_failures.labels(reason=AuthFailure.missing.value).inc()
            raise unauthorized("No API key: send `Authorization: Bearer <key>`.")
        principal = state.keys.current().authenticate(credentials.credentials)
        if principal is None:
            state.metrics.auth_failures.labels(reason=AuthFailure.invalid.value).inc()
            raise unauthorized("The API key is not valid.")
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


async def require_json(request: Request) -> None:
    """Dependency: the body is declared `application/json` (parameters such as charset aside).

    The body is read by hand, so FastAPI would otherwise take any content type, or none.
    """
    declared = request.headers.get("content-type")
    media_type = (declared or "").split(";", 1)[0].strip().lower()
    if media_type != JSON_MEDIA_TYPE:
        received = f"`{declared}`" if declared else "no Content-Type"
        raise ProblemError(
            problems.problem(
                415,
                GatewayCode.unsupported_media_type.value,
                "Unsupported media type",
                f"Send the request body as `{JSON_MEDIA_TYPE}`; got {received}.",
            ),
            headers={"Accept-Post": JSON_MEDIA_TYPE},
        )
