"""/health (the process answers), /health/ready (database reachable, schema current) and
/metrics (Prometheus)."""

from __future__ import annotations

from alembic.script import ScriptDirectory
from fastapi import APIRouter, Request, Response
from sqlalchemy import text

from omnirelay.delivery.worker import refresh_queue_metrics
from omnirelay.errors import ServiceUnavailable, error_responses
from omnirelay.metrics import metrics_response
from omnirelay.migrations import alembic_config
from omnirelay.security import check_scope

router = APIRouter(tags=["health"])


def migration_head() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/health/ready", responses=error_responses(503))
async def ready(request: Request) -> dict[str, str]:
    head = request.app.state.migration_head
    try:
        async with request.app.state.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            current = (
                await connection.execute(text("SELECT version_num FROM alembic_version"))
            ).scalar_one_or_none()
    except Exception as exc:  # any driver error means "not ready", never a 500
        raise ServiceUnavailable(
            {"database": "unreachable or not migrated", "reason": type(exc).__name__}
        ) from None
    if current != head:
        raise ServiceUnavailable(
            {
                "database": "reachable",
                "schema": current,
                "expected": head,
                "hint": "run `omnirelay db upgrade`",
            }
        )
    return {"status": "ready", "database": "reachable", "schema": current}


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus text; a scraper authenticates with a read key (Basic) unless
    ``PUBLIC_METRICS`` is on."""
    if not request.app.state.settings.public_metrics:
        await check_scope(request, "read")
    await refresh_queue_metrics(request.app.state.sessionmaker, request.app.state.metrics)
    return metrics_response(request.app.state.metrics)
