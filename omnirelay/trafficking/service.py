"""Markets, brands, channels and campaigns: the trafficking master data and the campaigns
named by the taxonomy.

A reference in a body to a row that does not exist is a 422 naming the field (the seed's
rule). A campaign's name is unique by the database's index on ``campaign_names``, not by a
read first: a duplicate is the insert's failure, answered 400 as the seed says. Nothing is
deleted while other rows refer to it (409 naming them), and a code the stored names carry
does not change. Services flush, never commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from omnirelay.crud import (
    Ref,
    apply_update,
    contains_text,
    flush_or_conflict,
    get_or_404,
    paginate,
    where_given,
)
from omnirelay.errors import Conflict, InvalidInput, OmniRelayError
from omnirelay.models import (
    Brand,
    Campaign,
    CampaignName,
    Channel,
    Market,
    Ticket,
    TraffickingCredential,
)
from omnirelay.trafficking import schemas as s
from omnirelay.trafficking.taxonomy import GeneratedName, Taxonomy, TaxonomyError


class DuplicateName(OmniRelayError):
    status_code = 400
    code = "duplicate_name"


# the request field a taxonomy field comes from
_FIELD_SOURCES = {
    "brand_code": "brand_id",
    "market_code": "market_id",
    "channel_platform": "channel_id",
    "year": "year",
    "campaign_name": "campaign_name",
    "name": "campaign_name",
}


async def referenced(session: AsyncSession, model: type[Any], field: str, ref: Any) -> Any:
    """The row a body's ``field`` names, or a 422 naming the field."""
    row = await session.get(model, ref)
    if row is None:
        raise InvalidInput([{"field": field, "reason": f"{ref} does not exist"}])
    return row


@dataclass(frozen=True)
class Referrer:
    """Rows of ``column``'s table that refer to a row, named by ``label``."""

    what: str
    column: InstrumentedAttribute[Any]
    label: InstrumentedAttribute[Any]


async def refuse_if_referenced(
    session: AsyncSession, what: str, key: Any, referrers: Sequence[Referrer]
) -> None:
    """409 naming the rows that still refer to ``key`` (the first few of each kind)."""
    found = []
    for referrer in referrers:
        count = (
            await session.execute(select(func.count()).where(referrer.column == key))
        ).scalar_one()
        if count:
            labels = (
                (
                    await session.execute(
                        select(referrer.label)
                        .where(referrer.column == key)
                        .order_by(referrer.label)
                        .limit(3)
                    )
                )
                .scalars()
                .all()
            )
            shown = ", ".join(str(label) for label in labels) + (", ..." if count > 3 else "")
            found.append(f"{count} {referrer.what} ({shown})")
    if found:
        raise Conflict(f"{what} is referenced by {'; '.join(found)}")


async def _delete(
    session: AsyncSession, row: Any, what: str, referrers: Sequence[Referrer]
) -> None:
    await refuse_if_referenced(session, what, row.id, referrers)
    await session.delete(row)
    await flush_or_conflict(session, f"{what} is referenced by other rows")


async def _code_taken(
    session: AsyncSession, column: InstrumentedAttribute[Any], code: str, except_id: Any = None
) -> bool:
    statement = select(column).where(column == code)
    if except_id is not None:
        statement = statement.where(column.class_.id != except_id)
    return (await session.execute(statement)).first() is not None


async def _create_coded(
    session: AsyncSession, row: Any, column: InstrumentedAttribute[Any], what: str
) -> Any:
    code = getattr(row, column.key)
    message = f"{what} {column.key} {code!r} already exists"
    if await _code_taken(session, column, code):
        raise Conflict(message)
    session.add(row)
    await flush_or_conflict(session, message)
    return row


async def _update_coded(
    session: AsyncSession,
    row: Any,
    body: BaseModel,
    column: InstrumentedAttribute[Any],
    what: str,
    named_by: Sequence[Referrer],
) -> Any:
    """A partial update; the code changes only while no stored name carries it."""
    code = getattr(body, column.key)
    if code is not None and code != getattr(row, column.key):
        if await _code_taken(session, column, code, row.id):
            raise Conflict(f"{what} {column.key} {code!r} already exists")
        try:
            await refuse_if_referenced(session, what, row.id, named_by)
        except Conflict as exc:
            raise Conflict(f"{exc.detail}: their names carry {column.key}, so it stays") from None
    apply_update(row, body)
    await flush_or_conflict(session, f"{what} {column.key} already exists")
    return row


# ---- markets -----------------------------------------------------------------------------

MARKET_REFERRERS = (
    Referrer("campaigns", Campaign.market_id, Campaign.name),
    Referrer(
        "trafficking credentials", TraffickingCredential.market_id, TraffickingCredential.platform
    ),
)


async def get_market(session: AsyncSession, ref: Ref) -> Market:
    return await get_or_404(session, Market, ref, what="market")


async def list_markets(
    session: AsyncSession, *, limit: int, offset: int, region: str | None, q: str | None
) -> tuple[list[Market], int]:
    statement = select(Market).order_by(Market.code)
    if region:
        statement = statement.where(Market.region == region)
    if q:
        statement = statement.where(
            or_(contains_text(Market.code, q), contains_text(Market.country, q))
        )
    return await paginate(session, statement, limit, offset)


async def create_market(session: AsyncSession, body: s.MarketCreate) -> Market:
    return await _create_coded(session, Market(**body.model_dump()), Market.code, "market")


async def update_market(session: AsyncSession, ref: Ref, body: s.MarketUpdate) -> Market:
    market = await get_market(session, ref)
    return await _update_coded(session, market, body, Market.code, "market", MARKET_REFERRERS[:1])


async def delete_market(session: AsyncSession, ref: Ref) -> None:
    market = await get_market(session, ref)
    await _delete(session, market, f"market {market.code!r}", MARKET_REFERRERS)


# ---- brands ------------------------------------------------------------------------------

BRAND_REFERRERS = (
    Referrer("campaigns", Campaign.brand_id, Campaign.name),
    Referrer(
        "trafficking credentials", TraffickingCredential.brand_id, TraffickingCredential.platform
    ),
)


async def get_brand(session: AsyncSession, ref: Ref) -> Brand:
    return await get_or_404(session, Brand, ref, what="brand")


async def list_brands(
    session: AsyncSession, *, limit: int, offset: int, q: str | None
) -> tuple[list[Brand], int]:
    statement = select(Brand).order_by(Brand.internal_code)
    if q:
        statement = statement.where(
            or_(contains_text(Brand.internal_code, q), contains_text(Brand.name, q))
        )
    return await paginate(session, statement, limit, offset)


async def create_brand(session: AsyncSession, body: s.BrandCreate) -> Brand:
    return await _create_coded(session, Brand(**body.model_dump()), Brand.internal_code, "brand")


async def update_brand(session: AsyncSession, ref: Ref, body: s.BrandUpdate) -> Brand:
    brand = await get_brand(session, ref)
    return await _update_coded(
        session, brand, body, Brand.internal_code, "brand", BRAND_REFERRERS[:1]
    )


async def delete_brand(session: AsyncSession, ref: Ref) -> None:
    brand = await get_brand(session, ref)
    await _delete(session, brand, f"brand {brand.internal_code!r}", BRAND_REFERRERS)


# ---- channels ----------------------------------------------------------------------------

CHANNEL_REFERRERS = (
    Referrer("campaigns", Campaign.channel_id, Campaign.name),
    Referrer("tickets", Ticket.channel_id, Ticket.deployed_name),
)


async def get_channel(session: AsyncSession, ref: Ref) -> Channel:
    return await get_or_404(session, Channel, ref, what="channel")


async def list_channels(
    session: AsyncSession, *, limit: int, offset: int, q: str | None
) -> tuple[list[Channel], int]:
    statement = select(Channel).order_by(Channel.platform_name)
    if q:
        statement = statement.where(
            or_(contains_text(Channel.platform_name, q), contains_text(Channel.api_identifier, q))
        )
    return await paginate(session, statement, limit, offset)


async def create_channel(session: AsyncSession, body: s.ChannelCreate) -> Channel:
    return await _create_coded(
        session, Channel(**body.model_dump()), Channel.platform_name, "channel"
    )


async def update_channel(session: AsyncSession, ref: Ref, body: s.ChannelUpdate) -> Channel:
    channel = await get_channel(session, ref)
    return await _update_coded(
        session, channel, body, Channel.platform_name, "channel", CHANNEL_REFERRERS
    )


async def delete_channel(session: AsyncSession, ref: Ref) -> None:
    channel = await get_channel(session, ref)
    await _delete(session, channel, f"channel {channel.platform_name!r}", CHANNEL_REFERRERS)


# ---- campaigns ---------------------------------------------------------------------------


@dataclass
class CampaignParts:
    brand: Brand
    market: Market
    channel: Channel | None


async def _parts(session: AsyncSession, body: s.CampaignDraftFields) -> CampaignParts:
    brand = await referenced(session, Brand, "brand_id", body.brand_id)
    market = await referenced(session, Market, "market_id", body.market_id)
    channel = None
    if body.channel_id is not None:
        channel = await referenced(session, Channel, "channel_id", body.channel_id)
    return CampaignParts(brand, market, channel)


def generate_name(
    taxonomy: Taxonomy,
    parts: CampaignParts,
    campaign_name: str,
    year: int | None,
    channel: Channel | None = None,
) -> GeneratedName:
    """The taxonomy name, with ``channel`` (default: the campaign's own, else MULTI)."""
    channel = channel or parts.channel
    try:
        return taxonomy.generate(
            brand_code=parts.brand.internal_code,
            market_code=parts.market.code,
            channel_platform=channel.platform_name if channel else None,
            campaign_name=campaign_name,
            year=year,
        )
    except TaxonomyError as exc:
        raise InvalidInput(
            [
                {"field": _FIELD_SOURCES.get(v.field, v.field), "reason": f"{v.field} {v.reason}"}
                for v in exc.violations
            ]
        ) from None


async def name_taken(session: AsyncSession, taxonomy: Taxonomy, name: str) -> bool:
    key = taxonomy.key(name)
    return (await session.get(CampaignName, key)) is not None


async def reserve_name(
    session: AsyncSession, taxonomy: Taxonomy, name: str, campaign_id: uuid.UUID
) -> None:
    """Hold ``name`` for the campaign; 400 when another campaign holds it."""
    held = CampaignName(name=taxonomy.key(name), campaign_id=campaign_id)
    await _add_named(session, held, name, lambda: name_taken(session, taxonomy, name))


async def _add_named(
    session: AsyncSession, row: object, name: str, taken: Callable[[], Awaitable[bool]]
) -> None:
    """Add ``row``, whose ``name`` the database keeps unique: 400 when ``taken()`` says
    the name was the conflict; any other integrity error is raised as it is."""
    await session.flush()  # what was added before is not this savepoint's to undo
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:
        if await taken():
            raise DuplicateName(f"campaign name {name!r} already exists") from None
        raise


async def preview_campaign(
    session: AsyncSession, body: s.CampaignDraftFields, taxonomy: Taxonomy
) -> s.PreviewOut:
    parts = await _parts(session, body)
    generated = generate_name(taxonomy, parts, body.campaign_name, body.year)
    taken = await name_taken(session, taxonomy, generated.name)
    return s.PreviewOut(
        name=generated.name, fields=generated.fields, version=generated.version, taken=taken
    )


async def create_campaign(
    session: AsyncSession, body: s.CampaignCreate, taxonomy: Taxonomy
) -> Campaign:
    parts = await _parts(session, body)
    currency = body.currency or parts.market.currency
    if currency is None:
        raise InvalidInput(
            [
                {
                    "field": "currency",
                    "reason": f"required: market {parts.market.code!r} has no currency",
                }
            ]
        )
    year = body.year if body.year is not None else datetime.now(UTC).year
    generated = generate_name(taxonomy, parts, body.campaign_name, year)
    campaign = Campaign(
        id=uuid.uuid4(),
        name=generated.name,
        campaign_name=body.campaign_name,
        brand_id=parts.brand.id,
        market_id=parts.market.id,
        channel_id=parts.channel.id if parts.channel else None,
        budget=body.budget,
        currency=currency,
        year=year,
        status=body.status.value,
        taxonomy_version=generated.version,
    )

    async def taken() -> bool:
        same = select(Campaign.id).where(Campaign.name == generated.name)
        held = await name_taken(session, taxonomy, generated.name)
        return held or (await session.execute(same)).first() is not None

    await _add_named(session, campaign, generated.name, taken)
    await reserve_name(session, taxonomy, generated.name, campaign.id)
    return campaign


async def get_campaign(session: AsyncSession, ref: Ref) -> Campaign:
    return await get_or_404(session, Campaign, ref, what="campaign")


async def list_campaigns(
    session: AsyncSession,
    *,
    limit: int,
    offset: int,
    brand_id: uuid.UUID | None,
    market_id: uuid.UUID | None,
    channel_id: uuid.UUID | None,
    status: str | None,
    year: int | None,
    q: str | None,
) -> tuple[list[Campaign], int]:
    statement = select(Campaign).order_by(Campaign.created_at, Campaign.name)
    statement = where_given(
        statement,
        (Campaign.brand_id, brand_id),
        (Campaign.market_id, market_id),
        (Campaign.channel_id, channel_id),
        (Campaign.status, status),
        (Campaign.year, year),
    )
    if q:
        statement = statement.where(
            or_(contains_text(Campaign.name, q), contains_text(Campaign.campaign_name, q))
        )
    return await paginate(session, statement, limit, offset)


async def update_campaign(session: AsyncSession, ref: Ref, body: s.CampaignUpdate) -> Campaign:
    campaign = await get_campaign(session, ref)
    apply_update(campaign, body, convert={"status": lambda status: status.value})
    await session.flush()
    return campaign


async def delete_campaign(session: AsyncSession, ref: Ref) -> None:
    campaign = await get_campaign(session, ref)
    await _delete(
        session,
        campaign,
        f"campaign {campaign.name!r}",
        [Referrer("tickets", Ticket.campaign_id, Ticket.deployed_name)],
    )
