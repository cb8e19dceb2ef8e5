"""The FastAPI application factory: routers, the error handler, and the lifespan that owns
the engine and (unless disabled) the embedded worker."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from omnirelay.config import Settings, get_settings
from omnirelay.db import create_engine, create_sessionmaker, is_db_unavailable
from omnirelay.errors import DatabaseUnavailable, OmniRelayError
from omnirelay.metrics import Metrics
from omnirelay.netguard import OutboundGuard
from omnirelay.security import Vault

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

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        return _unexpected_response(exc)


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
    )
    app.state.settings = settings
    app.state.vault = Vault(settings.encryption_keys())
    app.state.outbound_guard = OutboundGuard(settings.outbound_allow)
    app.state.metrics = Metrics()
    app.state.wake_worker = lambda: None
    from omnirelay.health import migration_head

    app.state.migration_head = migration_head()
    _install_error_handlers(app)
    _include_routers(app)
    return app


def _include_routers(app: FastAPI) -> None:
    from omnirelay.health import router as health_router
    from omnirelay.relay.events_endpoints import router as events_router
    from omnirelay.relay.ingest_endpoints import router as ingest_router
    from omnirelay.storefronts.endpoints import router as admin_router

    app.include_router(health_router)
    app.include_router(ingest_router)
    app.include_router(admin_router)
    app.include_router(events_router)
