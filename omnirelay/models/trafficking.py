"""Campaign trafficking: master data (markets, brands, channels), campaigns named by the
taxonomy, trafficking tickets with their status history, and the ad platform credentials
of a brand (or of a brand in one market).

Keys are UUIDs kept as 36-character text (portable, and what a platform's ``utm_id`` can
carry back). Column names are the seed's.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from omnirelay.models.base import (
    IDS_NEVER_REUSED,
    Base,
    BigIntId,
    CaseSensitiveString,
    JSONText,
    TimestampMixin,
    UTCDateTime,
    utcnow,
)


class UUIDText(TypeDecorator[uuid.UUID]):
    """A UUID stored as its canonical 36-character text on every backend."""

    impl = String(36)
    cache_ok = True

    @property
    def python_type(self) -> type[uuid.UUID]:
        return uuid.UUID

    def process_bind_param(self, value: uuid.UUID | str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return str(value if isinstance(value, uuid.UUID) else uuid.UUID(value))

    def process_result_value(self, value: str | None, dialect: Dialect) -> uuid.UUID | None:
        return None if value is None else uuid.UUID(value)


def _uuid_key() -> Mapped[uuid.UUID]:
    return mapped_column(UUIDText(), primary_key=True, default=uuid.uuid4)


class CampaignStatus(StrEnum):
    DRAFT = "DRAFT"
    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"
    COMPLETED = "COMPLETED"


class TicketStatus(StrEnum):
    DRAFT = "DRAFT"
    QA_TESTING = "QA_TESTING"
    QA_FAILED = "QA_FAILED"
    READY_FOR_API = "READY_FOR_API"
    TRAFFICKED_SUCCESS = "TRAFFICKED_SUCCESS"
    FAILED = "FAILED"


class Market(TimestampMixin, Base):
    __tablename__ = "markets"

    id: Mapped[uuid.UUID] = _uuid_key()
    code: Mapped[str] = mapped_column(CaseSensitiveString(20), unique=True, nullable=False)
    country: Mapped[str] = mapped_column(String(100), nullable=False)
    region: Mapped[str | None] = mapped_column(String(100))
    # ISO 4217; a campaign in the market spends it unless the campaign names another
    currency: Mapped[str | None] = mapped_column(String(3))


class Brand(TimestampMixin, Base):
    __tablename__ = "brands"

    id: Mapped[uuid.UUID] = _uuid_key()
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    internal_code: Mapped[str] = mapped_column(CaseSensitiveString(20), unique=True, nullable=False)


class Channel(TimestampMixin, Base):
    __tablename__ = "channels"

    id: Mapped[uuid.UUID] = _uuid_key()
    # the taxonomy's ChannelPlatform, and the platform whose translator builds the payload
    platform_name: Mapped[str] = mapped_column(CaseSensitiveString(20), unique=True, nullable=False)
    api_identifier: Mapped[str] = mapped_column(String(100), nullable=False)


class Campaign(TimestampMixin, Base):
    """``name`` is the taxonomy name, generated once and never changed; ``campaign_name`` is
    the free text it was made from. A campaign without a channel spans channels: its name
    carries ``MULTI`` and each ticket's ``deployed_name`` carries the ticket's channel."""

    __tablename__ = "campaigns"

    id: Mapped[uuid.UUID] = _uuid_key()
    name: Mapped[str] = mapped_column(CaseSensitiveString(255), unique=True, nullable=False)
    campaign_name: Mapped[str] = mapped_column(String(255), nullable=False)
    brand_id: Mapped[uuid.UUID] = mapped_column(
        UUIDText(), ForeignKey("brands.id"), nullable=False, index=True
    )
    market_id: Mapped[uuid.UUID] = mapped_column(
        UUIDText(), ForeignKey("markets.id"), nullable=False, index=True
    )
    channel_id: Mapped[uuid.UUID | None] = mapped_column(
        UUIDText(), ForeignKey("channels.id"), index=True
    )
    budget: Mapped[Decimal] = mapped_column(Numeric(18, 4), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    year: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(
        String(20), nullable=False, server_default=CampaignStatus.DRAFT.value
    )
    taxonomy_version: Mapped[str] = mapped_column(String(50), nullable=False)


class CampaignName(Base):
    """Every taxonomy name a campaign holds on the platforms: its own and its tickets'
    deployed names. One unique index keeps a channel-specific name of one campaign from
    being the name of another (``X_US_META_2026_Sale`` of a MULTI campaign's Meta ticket,
    and a Meta-only campaign of that name)."""

    __tablename__ = "campaign_names"

    name: Mapped[str] = mapped_column(CaseSensitiveString(255), primary_key=True)
    campaign_id: Mapped[uuid.UUID] = mapped_column(
        UUIDText(), ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False, index=True
    )


class Ticket(TimestampMixin, Base):
    __tablename__ = "tickets"
    __table_args__ = (Index("ix_tickets_status_updated_at", "status", "updated_at"),)

    id: Mapped[uuid.UUID] = _uuid_key()
    campaign_id: Mapped[uuid.UUID] = mapped_column(
        UUIDText(), ForeignKey("campaigns.id"), nullable=False, index=True
    )
    channel_id: Mapped[uuid.UUID] = mapped_column(
        UUIDText(), ForeignKey("channels.id"), nullable=False, index=True
    )
    request_type: Mapped[str] = mapped_column(String(50), nullable=False)
    payload_config: Mapped[dict[str, Any]] = mapped_column(JSONText, nullable=False)
    start_date: Mapped[date | None] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(
        String(20), nullable=False, server_default=TicketStatus.DRAFT.value
    )
    # the campaign's taxonomy name with this ticket's channel: what the platform is given
    deployed_name: Mapped[str] = mapped_column(CaseSensitiveString(255), nullable=False)
    external_platform_id: Mapped[str | None] = mapped_column(String(100))
    qa_failure_reason: Mapped[str | None] = mapped_column(Text)
    # the delivery that deploys the ticket, once one is queued
    deploy_task_id: Mapped[str | None] = mapped_column(String(64), index=True)


class TicketStatusHistory(Base):
    """One status change of a ticket: who, when, from, to and why."""

    __tablename__ = "ticket_status_history"
    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    ticket_id: Mapped[uuid.UUID] = mapped_column(
        UUIDText(), ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False, index=True
    )
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20), nullable=False)
    changed_by: Mapped[str] = mapped_column(String(100), nullable=False)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    reason: Mapped[str | None] = mapped_column(Text)


# A credential for every market of its brand is kept under this market key: a unique index
# over a nullable column would let two of them exist (NULLs are distinct in SQL).
EVERY_MARKET = "*"


class TraffickingCredential(TimestampMixin, Base):
    """A brand's API credentials for one ad platform, for one market or for all of them;
    everything but the platform and the owner is encrypted by the vault."""

    __tablename__ = "trafficking_credentials"
    __table_args__ = (UniqueConstraint("brand_id", "market_key", "platform"),)

    id: Mapped[uuid.UUID] = _uuid_key()
    brand_id: Mapped[uuid.UUID] = mapped_column(
        UUIDText(), ForeignKey("brands.id"), nullable=False, index=True
    )
    market_id: Mapped[uuid.UUID | None] = mapped_column(
        UUIDText(), ForeignKey("markets.id"), index=True
    )
    market_key: Mapped[str] = mapped_column(String(36), nullable=False)
    platform: Mapped[str] = mapped_column(CaseSensitiveString(20), nullable=False)
    settings_encrypted: Mapped[str] = mapped_column(Text, nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=true())
