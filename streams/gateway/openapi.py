"""The gateway's OpenAPI document, patched where FastAPI's generated one falls short.

FastAPI files error models under application/json; they are application/problem+json. The
request body is read by hand (after auth and the content-type check), so its schema is added
here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from schemas.requests import GenerationRequest
from streams.gateway import problems


def _problem_media_types(spec: dict[str, Any]) -> None:
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


def _request_body(spec: dict[str, Any]) -> None:
    components = spec.setdefault("components", {}).setdefault("schemas", {})
    body_schema = GenerationRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in body_schema.pop("$defs", {}).items():
        components.setdefault(name, sub)
    components["GenerationRequestBody"] = body_schema
    spec["paths"]["/v1/tasks"]["post"]["requestBody"] = {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/GenerationRequestBody"}}
        },
    }


def custom_openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """The `app.openapi` replacement: generated once, then cached on the app."""

    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        _problem_media_types(spec)
        _request_body(spec)
        app.openapi_schema = spec
        return spec

    return build
