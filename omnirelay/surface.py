"""What every response carries, and the documentation routes.

Every answer says ``X-Content-Type-Options: nosniff`` and ``Cache-Control: no-store`` (the
API's answers carry customer data, attempt bodies and configuration; none is for a cache).
``/docs`` and ``/openapi.json`` need a read key unless ``PUBLIC_DOCS`` is on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from omnirelay.security import check_scope

_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"cache-control", b"no-store")]


class ResponseHeaders:
    """A plain ASGI middleware (no per-request task or body buffering)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in _HEADERS if n not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def raw_bodies(app: FastAPI, bodies: Mapping[tuple[str, str], type[BaseModel]]) -> None:
    """Document the request body of operations that read it themselves (``POST
    /v1/events`` judges each item on its own instead of validating the envelope whole)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        components = document.setdefault("components", {}).setdefault("schemas", {})
        for (method, path), model in bodies.items():
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(schema.pop("$defs", {}))
            components[model.__name__] = schema
            document["paths"][path][method]["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{model.__name__}"}
                    }
                },
            }
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI, public_docs: bool) -> None:
    app.add_middleware(ResponseHeaders)
    if public_docs:
        return

    async def openapi(request: Request) -> JSONResponse:
        await check_scope(request, "read")
        return JSONResponse(app.openapi())

    async def docs(request: Request) -> HTMLResponse:
        await check_scope(request, "read")
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} API")

    routes: list[tuple[str, Any]] = [("/openapi.json", openapi), ("/docs", docs)]
    for path, endpoint in routes:
        app.add_api_route(path, endpoint, include_in_schema=False, methods=["GET"])
