from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from omnirelay.models.base import Base, BigIntId, TimestampMixin, UTCDateTime, utcnow


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # due at next_attempt_at
    IN_FLIGHT = "in_flight"  # claimed by a worker until lease_expires_at
    DELIVERED = "delivered"
    DEAD = "dead"  # permanent error or attempts exhausted; replay puts it back
    SKIPPED = "skipped"  # a kill switch or filter stopped it before sending


class EventDelivery(TimestampMixin, Base):
    """One (event, destination) pair: the unit the delivery engine claims, sends and retries.

    ``kind`` keeps the engine generic: relay deliveries today, message sends and campaign
    deploys later use the same claim/lease/retry machinery.
    """

    __tablename__ = "event_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "destination_key"),
        Index("ix_event_deliveries_due", "status", "next_attempt_at"),
        Index("ix_event_deliveries_storefront_status", "storefront_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), nullable=False, server_default="relay")
    event_id: Mapped[int] = mapped_column(
        ForeignKey("marketing_events.id", ondelete="CASCADE"), nullable=False
    )
    storefront_id: Mapped[int] = mapped_column(Integer, nullable=False)
    destination_type: Mapped[str] = mapped_column(String(20), nullable=False)  # sgtm | platform
    destination_code: Mapped[str] = mapped_column(String(50), nullable=False)  # meta, sgtm_ga4
    destination_key: Mapped[str] = mapped_column(String(80), nullable=False)  # unique per event
    sgtm_config_id: Mapped[int | None] = mapped_column(Integer)
    credential_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), nullable=False, server_default="pending")
    attempt_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    last_error: Mapped[str | None] = mapped_column(Text)
    last_http_status: Mapped[int | None] = mapped_column(Integer)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DeliveryRequest(Base):
    """One HTTP request as sent (secrets scrubbed) and what came back. A batched request
    carries many deliveries; each of their attempts points here, so the exact body is
    stored once per request, not once per event."""

    __tablename__ = "delivery_requests"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    destination_code: Mapped[str] = mapped_column(String(50), nullable=False)
    method: Mapped[str] = mapped_column(String(10), nullable=False, server_default="POST")
    url: Mapped[str] = mapped_column(Text, nullable=False)
    request_body: Mapped[str | None] = mapped_column(Text)
    event_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    http_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class EventAttempt(Base):
    """The audit: one row per delivery attempt (or per decision not to send)."""

    __tablename__ = "event_attempts"
    __table_args__ = (Index("ix_event_attempts_event_id", "event_id"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    event_id: Mapped[int] = mapped_column(
        ForeignKey("marketing_events.id", ondelete="CASCADE"), nullable=False
    )
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("event_deliveries.id", ondelete="CASCADE"), index=True
    )
    destination_type: Mapped[str] = mapped_column(String(20), nullable=False)
    destination_code: Mapped[str] = mapped_column(String(50), nullable=False)
    attempt_number: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)  # delivered|retry|permanent
    http_status: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    warnings: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[int | None] = mapped_column(
        ForeignKey("delivery_requests.id", ondelete="SET NULL"), index=True
    )
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
