"""/api/v1: markets, brands, channels, campaigns and tickets (the seed's paths). Reading
needs the read scope; every change, the trafficking scope. Updates are PUT with only the
fields sent changed."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy import select

from omnirelay.crud import Page
from omnirelay.deps import DbSession
from omnirelay.errors import COMMON_ERRORS, error_responses
from omnirelay.input_types import Limit, Offset, TextColumn, UtcDatetime
from omnirelay.models import CampaignName, CampaignStatus, TicketStatus
from omnirelay.security import require
from omnirelay.trafficking import schemas as s
from omnirelay.trafficking import service, tickets
from omnirelay.trafficking.dependencies import TaxonomyDep, Trafficker, actor_of
from omnirelay.trafficking.performance import performance_query

router = APIRouter(
    prefix="/api/v1",
    tags=["trafficking"],
    responses=error_responses(*COMMON_ERRORS, 404, 409),
)
READ = [require("read")]
WRITE = [require("trafficking")]
Search = Annotated[TextColumn | None, Query(max_length=100, description="contains, any case")]


# ---- markets -----------------------------------------------------------------------------


@router.get("/markets", response_model=Page[s.MarketOut], dependencies=READ)
async def list_markets(
    session: DbSession,
    limit: Limit = 50,
    offset: Offset = 0,
    region: Annotated[TextColumn | None, Query(max_length=100)] = None,
    q: Search = None,
) -> Page[s.MarketOut]:
    items, total = await service.list_markets(
        session, limit=limit, offset=offset, region=region, q=q
    )
    return Page(
        items=[s.MarketOut.model_validate(i) for i in items],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.post("/markets", response_model=s.MarketOut, status_code=201, dependencies=WRITE)
async def create_market(body: s.MarketCreate, session: DbSession) -> s.MarketOut:
    return s.MarketOut.model_validate(await service.create_market(session, body))


@router.get("/markets/{market_id}", response_model=s.MarketOut, dependencies=READ)
async def read_market(market_id: str, session: DbSession) -> s.MarketOut:
    return s.MarketOut.model_validate(await service.get_market(session, market_id))


@router.put("/markets/{market_id}", response_model=s.MarketOut, dependencies=WRITE)
async def update_market(market_id: str, body: s.MarketUpdate, session: DbSession) -> s.MarketOut:
    return s.MarketOut.model_validate(await service.update_market(session, market_id, body))


@router.delete("/markets/{market_id}", status_code=204, dependencies=WRITE)
async def delete_market(market_id: str, session: DbSession) -> Response:
    await service.delete_market(session, market_id)
    return Response(status_code=204)


# ---- brands ------------------------------------------------------------------------------


@router.get("/brands", response_model=Page[s.BrandOut], dependencies=READ)
async def list_brands(
    session: DbSession, limit: Limit = 50, offset: Offset = 0, q: Search = None
) -> Page[s.BrandOut]:
    items, total = await service.list_brands(session, limit=limit, offset=offset, q=q)
    return Page(
        items=[s.BrandOut.model_validate(i) for i in items],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.post("/brands", response_model=s.BrandOut, status_code=201, dependencies=WRITE)
async def create_brand(body: s.BrandCreate, session: DbSession) -> s.BrandOut:
    return s.BrandOut.model_validate(await service.create_brand(session, body))


@router.get("/brands/{brand_id}", response_model=s.BrandOut, dependencies=READ)
async def read_brand(brand_id: str, session: DbSession) -> s.BrandOut:
    return s.BrandOut.model_validate(await service.get_brand(session, brand_id))


@router.put("/brands/{brand_id}", response_model=s.BrandOut, dependencies=WRITE)
async def update_brand(brand_id: str, body: s.BrandUpdate, session: DbSession) -> s.BrandOut:
    return s.BrandOut.model_validate(await service.update_brand(session, brand_id, body))


@router.delete("/brands/{brand_id}", status_code=204, dependencies=WRITE)
async def delete_brand(brand_id: str, session: DbSession) -> Response:
    await service.delete_brand(session, brand_id)
    return Response(status_code=204)


# ---- channels ----------------------------------------------------------------------------


@router.get("/channels", response_model=Page[s.ChannelOut], dependencies=READ)
async def list_channels(
    session: DbSession, limit: Limit = 50, offset: Offset = 0, q: Search = None
) -> Page[s.ChannelOut]:
    items, total = await service.list_channels(session, limit=limit, offset=offset, q=q)
    return Page(
        items=[s.ChannelOut.model_validate(i) for i in items],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.post("/channels", response_model=s.ChannelOut, status_code=201, dependencies=WRITE)
async def create_channel(body: s.ChannelCreate, session: DbSession) -> s.ChannelOut:
    return s.ChannelOut.model_validate(await service.create_channel(session, body))


@router.get("/channels/{channel_id}", response_model=s.ChannelOut, dependencies=READ)
async def read_channel(channel_id: str, session: DbSession) -> s.ChannelOut:
    return s.ChannelOut.model_validate(await service.get_channel(session, channel_id))


@router.put("/channels/{channel_id}", response_model=s.ChannelOut, dependencies=WRITE)
async def update_channel(
    channel_id: str, body: s.ChannelUpdate, session: DbSession
) -> s.ChannelOut:
    return s.ChannelOut.model_validate(await service.update_channel(session, channel_id, body))


@router.delete("/channels/{channel_id}", status_code=204, dependencies=WRITE)
async def delete_channel(channel_id: str, session: DbSession) -> Response:
    await service.delete_channel(session, channel_id)
    return Response(status_code=204)


# ---- campaigns ---------------------------------------------------------------------------


@router.get("/campaigns", response_model=Page[s.CampaignOut], dependencies=READ)
async def list_campaigns(
    session: DbSession,
    limit: Limit = 50,
    offset: Offset = 0,
    brand_id: uuid.UUID | None = None,
    market_id: uuid.UUID | None = None,
    channel_id: uuid.UUID | None = None,
    status: CampaignStatus | None = None,
    year: Annotated[int | None, Query(ge=1000, le=9999)] = None,
    q: Search = None,
) -> Page[s.CampaignOut]:
    items, total = await service.list_campaigns(
        session,
        limit=limit,
        offset=offset,
        brand_id=brand_id,
        market_id=market_id,
        channel_id=channel_id,
        status=status.value if status else None,
        year=year,
        q=q,
    )
    return Page(
        items=[s.CampaignOut.model_validate(i) for i in items],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.post(
    "/campaigns",
    response_model=s.CampaignOut,
    status_code=201,
    dependencies=WRITE,
    responses=error_responses(400),
)
async def create_campaign(
    body: s.CampaignCreate, session: DbSession, taxonomy: TaxonomyDep
) -> s.CampaignOut:
    """The name is generated by the taxonomy; a name another campaign holds is a 400."""
    return s.CampaignOut.model_validate(await service.create_campaign(session, body, taxonomy))


@router.get("/campaigns/{campaign_id}", response_model=s.CampaignOut, dependencies=READ)
async def read_campaign(campaign_id: str, session: DbSession) -> s.CampaignOut:
    return s.CampaignOut.model_validate(await service.get_campaign(session, campaign_id))


@router.put("/campaigns/{campaign_id}", response_model=s.CampaignOut, dependencies=WRITE)
async def update_campaign(
    campaign_id: str, body: s.CampaignUpdate, session: DbSession
) -> s.CampaignOut:
    """Only budget and status change; the name is immutable."""
    campaign = await service.update_campaign(session, campaign_id, body)
    return s.CampaignOut.model_validate(campaign)


@router.delete("/campaigns/{campaign_id}", status_code=204, dependencies=WRITE)
async def delete_campaign(campaign_id: str, session: DbSession) -> Response:
    await service.delete_campaign(session, campaign_id)
    return Response(status_code=204)


@router.get(
    "/campaigns/{campaign_id}/performance", response_model=s.PerformanceOut, dependencies=READ
)
async def campaign_performance(
    campaign_id: str,
    session: DbSession,
    taxonomy: TaxonomyDep,
    since: Annotated[UtcDatetime | None, Query(description="events at or after")] = None,
    until: Annotated[UtcDatetime | None, Query(description="events before")] = None,
) -> s.PerformanceOut:
    """Conversions and revenue of the relayed events whose utm_campaign is one of the
    campaign's taxonomy names, or whose utm_id is its id, by UTC day and event type."""
    campaign = await service.get_campaign(session, campaign_id)
    names = list(
        (
            await session.execute(
                select(CampaignName.name).where(CampaignName.campaign_id == campaign.id)
            )
        ).scalars()
    ) or [campaign.name]
    rows = (
        await session.execute(
            performance_query(
                names,
                campaign.id,
                case_sensitive=taxonomy.case_sensitive,
                since=since,
                until=until,
            )
        )
    ).all()
    out = [
        s.PerformanceRow(
            day=row.day,
            event_type=row.event_type,
            currency=row.currency,
            conversions=row.conversions,
            revenue=round(float(row.revenue), 4),
        )
        for row in rows
    ]
    revenue: dict[str, float] = {}
    for row in out:
        revenue[row.currency or ""] = round(revenue.get(row.currency or "", 0.0) + row.revenue, 4)
    return s.PerformanceOut(
        campaign_id=campaign.id,
        utm_campaign=sorted(names),
        case_sensitive=taxonomy.case_sensitive,
        rows=out,
        conversions=sum(r.conversions for r in out),
        revenue=revenue,
    )


# ---- tickets -----------------------------------------------------------------------------


@router.get("/tickets", response_model=Page[s.TicketOut], dependencies=READ)
async def list_tickets(
    session: DbSession,
    limit: Limit = 50,
    offset: Offset = 0,
    campaign_id: uuid.UUID | None = None,
    channel_id: uuid.UUID | None = None,
    status: TicketStatus | None = None,
    request_type: Annotated[TextColumn | None, Query(max_length=50)] = None,
) -> Page[s.TicketOut]:
    items, total = await tickets.list_tickets(
        session,
        limit=limit,
        offset=offset,
        campaign_id=campaign_id,
        channel_id=channel_id,
        status=status.value if status else None,
        request_type=request_type.upper() if request_type else None,
    )
    return Page(
        items=[tickets.ticket_out(i) for i in items], total=total, limit=limit, offset=offset
    )


@router.post(
    "/tickets", response_model=s.TicketOut, status_code=201, responses=error_responses(400)
)
async def create_ticket(
    body: s.TicketCreate, session: DbSession, taxonomy: TaxonomyDep, principal: Trafficker
) -> s.TicketOut:
    ticket = await tickets.create_ticket(session, body, taxonomy, actor_of(principal))
    return tickets.ticket_out(ticket)


@router.get("/tickets/{ticket_id}", response_model=s.TicketOut, dependencies=READ)
async def read_ticket(ticket_id: str, session: DbSession) -> s.TicketOut:
    return tickets.ticket_out(await tickets.get_ticket(session, ticket_id))


@router.put("/tickets/{ticket_id}", response_model=s.TicketOut)
async def update_ticket(
    ticket_id: str,
    body: s.TicketUpdate,
    session: DbSession,
    taxonomy: TaxonomyDep,
    principal: Trafficker,
) -> s.TicketOut:
    """A status change follows the workflow (409 naming the allowed next states); moving
    to QA_TESTING runs QA, which leaves the ticket QA_FAILED (every reason listed in
    qa_failure_reason) or READY_FOR_API."""
    ticket = await tickets.update_ticket(session, ticket_id, body, taxonomy, actor_of(principal))
    return tickets.ticket_out(ticket)


@router.delete("/tickets/{ticket_id}", status_code=204, dependencies=WRITE)
async def delete_ticket(ticket_id: str, session: DbSession) -> Response:
    await tickets.delete_ticket(session, ticket_id)
    return Response(status_code=204)


@router.get("/tickets/{ticket_id}/history", response_model=Page[s.HistoryOut], dependencies=READ)
async def ticket_history(
    ticket_id: str, session: DbSession, limit: Limit = 100, offset: Offset = 0
) -> Page[s.HistoryOut]:
    items, total = await tickets.history(session, ticket_id, limit=limit, offset=offset)
    return Page(
        items=[s.HistoryOut.model_validate(i) for i in items],
        total=total,
        limit=limit,
        offset=offset,
    )
