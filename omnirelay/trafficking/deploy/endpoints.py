"""``POST /api/v1/deploy`` and ``GET /api/v1/deploy/status/{task_id}`` (the seed's paths)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from omnirelay.deps import DbSession, ReadScopes
from omnirelay.errors import COMMON_ERRORS, error_responses
from omnirelay.security import require
from omnirelay.trafficking.deploy import service
from omnirelay.trafficking.deploy.schemas import DeployQueued, DeployRequest, DeployStatus

MAX_WAIT_SECONDS = 30
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
    task_id: Annotated[str, Path(max_length=64)],
    scopes: ReadScopes,
    wait: Annotated[
        float,
        Query(
            ge=0,
            le=MAX_WAIT_SECONDS,
            description="seconds to wait for the task to finish (SUCCESS or FAILURE) "
            "before answering; 0 answers at once",
        ),
    ] = 0,
) -> DeployStatus:
    """The task's status, as the seed answers it; with ``wait``, a long poll that answers
    as soon as the deploy has finished."""
    return await service.wait_for_status(scopes, task_id, wait)
