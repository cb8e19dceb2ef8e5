"""The FastAPI application factory: routers, the error handler, and the lifespan that owns
the engine and (unless disabled) the embedded worker."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import TYPE_CHECKING

import httpx
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from omnirelay import surface
from omnirelay.config import Settings, get_settings
from omnirelay.db import create_engine, create_sessionmaker, is_db_unavailable
from omnirelay.errors import DatabaseUnavailable, InvalidInput, OmniRelayError
from omnirelay.input_types import reject_nul_in_url
from omnirelay.keys import service as keys_service
from omnirelay.metrics import Metrics
from omnirelay.netguard import OutboundGuard
from omnirelay.security import KeyCache, LoginGuard, Vault

if TYPE_CHECKING:
    from omnirelay.delivery.worker import Worker

log = logging.getLogger("omnirelay")


def _error_response(error: OmniRelayError) -> JSONResponse:
    headers: dict[str, str] = {}
    if error.status_code == 401:
        headers["WWW-Authenticate"] = 'Basic realm="omnirelay"'
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return JSONResponse(
        {"error": error.code, "detail": error.detail},
        status_code=error.status_code,
        headers=headers or None,
    )


def _unexpected_response(exc: Exception) -> JSONResponse:
    # Log the type only: messages of driver errors can carry parameter values.
    log.exception("unexpected error: %s", type(exc).__name__)
    return JSONResponse(
        {"error": "internal_error", "detail": "an unexpected error occurred"}, status_code=500
    )


class UnexpectedErrorMiddleware:
    """Answers an exception no handler took as a JSON 500, inside the app.

    Starlette's own handler for ``Exception`` answers and then re-raises, and uvicorn closes
    a connection whose request raised: the client's keep-alive connection would be gone and
    its next request would fail with a transport error too. An error after the answer has
    started cannot be answered again, so it is left to the server.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_noting_start(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_noting_start)
        except Exception as exc:
            if started:
                raise
            await _unexpected_response(exc)(scope, receive, send)


def _database_error_classes() -> tuple[type[Exception], ...]:
    """Where a database failure can come from: SQLAlchemy's errors, the socket's (a driver
    connecting raises them unwrapped) and the drivers' own."""
    from sqlalchemy.exc import SQLAlchemyError

    classes: list[type[Exception]] = [SQLAlchemyError, OSError]
    try:
        import asyncpg

        classes += [asyncpg.PostgresError, asyncpg.InterfaceError]
    except ImportError:  # pragma: no cover - the driver is optional
        pass
    try:
        import asyncmy.errors

        classes.append(asyncmy.errors.MySQLError)
    except ImportError:  # pragma: no cover - the driver is optional
        pass
    return tuple(classes)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(OmniRelayError)
    async def _omnirelay_error(_: Request, exc: OmniRelayError) -> JSONResponse:
        return _error_response(exc)

    @app.exception_handler(HTTPException)
    async def _http_error(_: Request, exc: HTTPException) -> JSONResponse:
        """The framework's own answers (unknown route, wrong method, unreadable body) in
        the one error shape."""
        if exc.status_code == 400 and isinstance(exc.__cause__, RecursionError):
            return _error_response(
                InvalidInput([{"field": "body", "reason": "JSON nested too deeply to be read"}])
            )
        try:
            phrase = HTTPStatus(exc.status_code).phrase
        except ValueError:
            phrase = "http error"
        code = phrase.lower().replace(" ", "_").replace("-", "_")
        return JSONResponse(
            {"error": code, "detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        detail = [
            {
                "field": ".".join(str(p) for p in e["loc"] if p not in ("body", "query", "path")),
                "reason": e["msg"],
            }
            for e in exc.errors()
        ]
        return JSONResponse({"error": "validation_error", "detail": detail}, status_code=422)

    async def _database_error(request: Request, exc: Exception) -> JSONResponse:
        if is_db_unavailable(exc):
            # One line, no traceback, no driver message (it can carry parameter values).
            log.warning(
                "database unavailable: %s %s answered 503 (%s)",
                request.method,
                request.url.path,
                type(exc).__name__,
            )
            return _error_response(DatabaseUnavailable())
        return _unexpected_response(exc)

    # Registered per class, not under Exception: Starlette answers an Exception handler
    # from its outermost middleware and then re-raises, so the server would log a traceback.
    for error_class in _database_error_classes():
        app.add_exception_handler(error_class, _database_error)

    # What UnexpectedErrorMiddleware cannot see: errors of the middleware outside it.
    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        return _unexpected_response(exc)

    app.add_middleware(UnexpectedErrorMiddleware)


def create_app(
    settings: Settings | None = None,
    *,
    run_worker: bool = True,
    http_client: httpx.AsyncClient | None = None,
) -> FastAPI:
    """``http_client`` replaces the worker's outbound client (tests route it to the sandbox)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from omnirelay.pipeline import create_worker

        engine = create_engine(settings.database_url)
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        worker: Worker | None = None
        task: asyncio.Task[None] | None = None
        if run_worker:
            worker = create_worker(
                settings,
                app.state.sessionmaker,
                app.state.vault,
                app.state.metrics,
                client=http_client,
            )
            app.state.worker = worker
            app.state.wake_worker = worker.wake
            task = asyncio.create_task(worker.run(), name="omnirelay-worker")
        try:
            yield
        finally:
            if worker is not None and task is not None:
                await worker.stop()
                await task
            await engine.dispose()

    app = FastAPI(
        title="omnirelay",
        version="0.1.0",
        description="Server-side marketing backbone: ingest, deliver, audit.",
        lifespan=lifespan,
        # without PUBLIC_DOCS these are served behind a read key (omnirelay.surface)
        docs_url="/docs" if settings.public_docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.public_docs else None,
        dependencies=[Depends(reject_nul_in_url)],
    )
    app.state.settings = settings
    app.state.vault = Vault(settings.encryption_keys())
    app.state.outbound_guard = OutboundGuard(settings.outbound_allow)
    app.state.metrics = Metrics()
    app.state.wake_worker = lambda: None
    app.state.login_guard = LoginGuard(settings.auth_failures_per_minute)
    app.state.key_cache = KeyCache(keys_service.load_key, keys_service.touch_key)
    app.state.keys_touched = {}
    from omnirelay.messaging.holder import rules_holder
    from omnirelay.models.base import utcnow

    app.state.rules = rules_holder(settings)
    app.state.clock = utcnow  # what quiet hours are judged at (tests set it)
    from omnirelay.health import migration_head

    app.state.migration_head = migration_head()
    _load_trafficking(app, settings)
    _install_error_handlers(app)
    _include_routers(app)
    surface.install(app, settings.public_docs)
    return app


def _load_trafficking(app: FastAPI, settings: Settings) -> None:
    from omnirelay.trafficking.qa import load_platform_translators
    from omnirelay.trafficking.taxonomy import Taxonomy, load_spec

    app.state.taxonomy = Taxonomy(load_spec(settings.taxonomy_spec_path))
    load_platform_translators()


def _include_routers(app: FastAPI) -> None:
    from omnirelay.health import router as health_router
    from omnirelay.keys.endpoints import router as keys_router
    from omnirelay.messaging.endpoints import RAW_BODIES as messaging_bodies
    from omnirelay.messaging.endpoints import admin_router as messaging_admin_router
    from omnirelay.messaging.endpoints import router as messaging_router
    from omnirelay.relay.events_endpoints import router as events_router
    from omnirelay.relay.ingest_endpoints import RAW_BODIES as ingest_bodies
    from omnirelay.relay.ingest_endpoints import router as ingest_router
    from omnirelay.storefronts.endpoints import router as admin_router
    from omnirelay.trafficking.credentials_endpoints import router as trafficking_credentials
    from omnirelay.trafficking.deploy.endpoints import router as deploy_router
    from omnirelay.trafficking.endpoints import router as trafficking_router
    from omnirelay.trafficking.taxonomy_endpoints import router as taxonomy_router

    app.include_router(health_router)
    app.include_router(ingest_router)
    surface.raw_bodies(app, ingest_bodies)
    app.include_router(admin_router)
    app.include_router(events_router)
    app.include_router(keys_router)
    app.include_router(trafficking_router)
    app.include_router(taxonomy_router)
    app.include_router(trafficking_credentials)
    app.include_router(deploy_router)
    app.include_router(messaging_router)
    surface.raw_bodies(app, messaging_bodies)
    app.include_router(messaging_admin_router)
