from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from omnirelay.models.base import (
    IDS_NEVER_REUSED,
    Base,
    BigIntId,
    CaseSensitiveString,
    UTCDateTime,
    utc_timestamp_default,
    utcnow,
)


class EventStatus(StrEnum):
    PENDING = "pending"  # accepted, not yet routed (also what a direct INSERT writes)
    QUEUED = "queued"  # routed: deliveries exist and are in flight
    DELIVERED = "delivered"  # every delivery succeeded
    PARTIAL = "partial"  # some deliveries succeeded, some are dead
    FAILED = "failed"  # nothing can be delivered (reason in status_detail)
    SKIPPED = "skipped"  # deliberately not delivered (inactive storefront, no destination)
    DUPLICATE = "duplicate"  # a direct INSERT of an event already stored


# The source_system of events posted to POST /events (behavioural events, seed 003): the
# messaging rules decide them as they arrive; the relay forwards them only to destinations
# whose event_types name them.
BEHAVIOURAL_SOURCE = "behavioural_api"


class MarketingEvent(Base):
    """The durable inbox. Column names and types honour the seed's table contract, so the
    OMS can INSERT rows itself; every added column has a server default or is nullable."""

    __tablename__ = "marketing_events"
    __table_args__ = (
        UniqueConstraint(
            "storefront_id", "event_type", "event_id", name="uq_marketing_events_dedup"
        ),
        CheckConstraint(
            "storefront_id IS NOT NULL OR storefront_code IS NOT NULL", name="storefront_given"
        ),
        Index("ix_marketing_events_status_id", "status", "id"),
        Index("ix_marketing_events_storefront_time", "storefront_id", "event_time"),
        Index("ix_marketing_events_received_at", "received_at"),
        IDS_NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    event_id: Mapped[str] = mapped_column(CaseSensitiveString(100), nullable=False)
    storefront_id: Mapped[int | None] = mapped_column(ForeignKey("storefronts.id"))
    storefront_code: Mapped[str | None] = mapped_column(CaseSensitiveString(50))
    event_type: Mapped[str] = mapped_column(CaseSensitiveString(50), nullable=False)
    event_payload: Mapped[str] = mapped_column(Text, nullable=False)
    source_system: Mapped[str] = mapped_column(
        String(50), nullable=False, server_default="oms_direct"
    )
    status: Mapped[str] = mapped_column(String(20), nullable=False, server_default="pending")
    status_detail: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[str | None] = mapped_column(String(255), index=True)
    event_time: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set by the database: rows are written in bulk (or by the OMS itself), never one ORM
    # object at a time, and the database clock stamps a whole batch in one go.
    received_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, server_default=utc_timestamp_default()
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, server_default=utc_timestamp_default(), onupdate=utcnow
    )
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
