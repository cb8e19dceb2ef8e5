"""``POST /api/v1/deploy`` and ``GET /api/v1/deploy/status/{task_id}`` (the seed's paths)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from omnirelay.deps import DbSession
from omnirelay.errors import COMMON_ERRORS, error_responses
from omnirelay.security import require
from omnirelay.trafficking.deploy import service
from omnirelay.trafficking.deploy.schemas import DeployQueued, DeployRequest, DeployStatus

router = APIRouter(prefix="/api/v1/deploy", tags=["trafficking"])


@router.post(
    "",
    status_code=202,
    response_model=DeployQueued,
    dependencies=[require("trafficking")],
    responses=error_responses(*COMMON_ERRORS, 404),
)
async def deploy(body: DeployRequest, session: DbSession) -> DeployQueued:
    """Queue the deploy of a READY_FOR_API ticket (400 otherwise); the answer leaves after
    the task is committed. A worker creates the campaign on the ticket's platform."""
    return await service.queue_deploy(session, body.ticket_id)


@router.get(
    "/status/{task_id}",
    response_model=DeployStatus,
    dependencies=[require("read")],
    responses=error_responses(*COMMON_ERRORS, 404),
)
async def deploy_status(
    task_id: Annotated[str, Path(max_length=64)], session: DbSession
) -> DeployStatus:
    return await service.deploy_status(session, task_id)
