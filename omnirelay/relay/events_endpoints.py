"""Admin views of events with their deliveries and attempts, and replay."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from omnirelay.crud import Page
from omnirelay.deps import DbSession, after_commit
from omnirelay.errors import COMMON_ERRORS, error_responses
from omnirelay.input_types import DbInt, Limit, Offset, UtcDatetime
from omnirelay.relay import events_schemas as s
from omnirelay.relay import events_service as service
from omnirelay.security import require

router = APIRouter(
    prefix="/admin/v1", tags=["events"], responses=error_responses(*COMMON_ERRORS, 404)
)


@router.get("/events", response_model=Page[s.EventSummary], dependencies=[require("read")])
async def list_events(
    session: DbSession,
    limit: Limit = 50,
    offset: Offset = 0,
    storefront_id: Annotated[str | None, Query(description="storefront id or code")] = None,
    status: str | None = None,
    event_type: str | None = None,
    event_id: Annotated[str | None, Query(description="the source event id (order id)")] = None,
    since: Annotated[
        UtcDatetime | None, Query(description="received at or after (ISO 8601)")
    ] = None,
    until: Annotated[UtcDatetime | None, Query(description="received before (ISO 8601)")] = None,
) -> Page[s.EventSummary]:
    items, total = await service.list_events(
        session,
        limit=limit,
        offset=offset,
        storefront=storefront_id,
        status=status,
        event_type=event_type,
        event_id=event_id,
        since=since,
        until=until,
    )
    return Page(
        items=[s.EventSummary.model_validate(i) for i in items],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/events/{event_pk}", response_model=s.EventDetail, dependencies=[require("read")])
async def read_event(event_pk: DbInt, session: DbSession) -> s.EventDetail:
    """An event with its payload, each destination's delivery state and every attempt,
    with the exact (secret-scrubbed) request that was sent."""
    return await service.event_detail(session, event_pk)


@router.post("/deliveries/replay", response_model=s.ReplayResult, dependencies=[require("admin")])
async def replay(body: s.ReplayRequest, request: Request, session: DbSession) -> s.ReplayResult:
    result = await service.replay_deliveries(session, body)
    after_commit(session, request.app.state.wake_worker)
    return result
