"""The demo brand: a campaign whose Meta ticket is READY_FOR_API, its credentials pointing
at the sandbox's campaign fake, so ``make demo`` can show a deploy end to end."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from omnirelay.models import (
    Brand,
    Campaign,
    Channel,
    Market,
    Ticket,
    TicketStatus,
    TraffickingCredential,
)
from omnirelay.models.trafficking import EVERY_MARKET
from omnirelay.security import Vault
from omnirelay.trafficking import schemas as s
from omnirelay.trafficking import service, tickets
from omnirelay.trafficking.taxonomy import Taxonomy

DEMO_BRAND = "DEMO"
DEMO_ACTOR = "demo"


async def _one(session: AsyncSession, statement: object) -> object | None:
    return (await session.execute(statement)).scalars().first()  # type: ignore[call-overload]


async def create_demo_trafficking(
    session: AsyncSession, vault: Vault, sandbox_url: str, taxonomy: Taxonomy
) -> Ticket:
    """The demo's READY_FOR_API ticket (a new one when the last was deployed)."""
    brand = await _one(session, select(Brand).where(Brand.internal_code == DEMO_BRAND))
    if not isinstance(brand, Brand):
        brand = await service.create_brand(
            session, s.BrandCreate(name="Demo brand (sandbox)", internal_code=DEMO_BRAND)
        )
    market = await _one(session, select(Market).where(Market.code == "US"))
    if not isinstance(market, Market):
        market = await service.create_market(
            session, s.MarketCreate(code="US", country="United States", currency="USD")
        )
    channel = await _one(session, select(Channel).where(Channel.platform_name == "META"))
    if not isinstance(channel, Channel):
        channel = await service.create_channel(
            session, s.ChannelCreate(platform_name="META", api_identifier="meta_marketing_api")
        )
    credential = await _one(
        session,
        select(TraffickingCredential).where(
            TraffickingCredential.brand_id == brand.id, TraffickingCredential.platform == "META"
        ),
    )
    if credential is None:
        settings: dict[str, object] = {
            "account_id": "1234567890",
            "access_token": "demo-meta-ads-token",
            "base_url": f"{sandbox_url.rstrip('/')}/meta",
            "api_version": None,
            "secrets": {},
        }
        session.add(
            TraffickingCredential(
                brand_id=brand.id,
                market_key=EVERY_MARKET,
                platform="META",
                settings_encrypted=vault.encrypt(settings),
            )
        )
    campaign = await _one(
        session,
        select(Campaign).where(Campaign.brand_id == brand.id, Campaign.campaign_name == "Launch"),
    )
    if not isinstance(campaign, Campaign):
        body = s.CampaignCreate(
            campaign_name="Launch", brand_id=brand.id, market_id=market.id, budget=Decimal(500)
        )
        campaign = await service.create_campaign(session, body, taxonomy)
    ready = await _one(
        session,
        select(Ticket).where(
            Ticket.campaign_id == campaign.id, Ticket.status == TicketStatus.READY_FOR_API.value
        ),
    )
    if isinstance(ready, Ticket):
        return ready
    ticket = await tickets.create_ticket(
        session,
        s.TicketCreate(
            campaign_id=campaign.id,
            channel_id=channel.id,
            payload_config={"objective": "OUTCOME_TRAFFIC", "special_ad_categories": []},
        ),
        taxonomy,
        DEMO_ACTOR,
    )
    await tickets.move(session, ticket, TicketStatus.QA_TESTING, taxonomy, DEMO_ACTOR)
    return ticket
