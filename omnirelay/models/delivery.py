from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from omnirelay.models.base import (
    IDS_NEVER_REUSED,
    Base,
    BigIntId,
    JSONText,
    TimestampMixin,
    UTCDateTime,
    utcnow,
)


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # due at next_attempt_at
    IN_FLIGHT = "in_flight"  # claimed by a worker until lease_expires_at
    DELIVERED = "delivered"
    DEAD = "dead"  # permanent error or attempts exhausted; replay puts it back
    SKIPPED = "skipped"  # a kill switch or filter stopped it before sending


class Delivery(TimestampMixin, Base):
    """A unit of work of some ``kind`` (a relay send, a message send, a campaign deploy)
    about a subject, for one target: what the delivery engine claims, sends, retries and
    records attempt by attempt.

    The subject is an event (``event_id``: relay and messaging); ``subject_ref`` names a
    subject that is not an event (a ticket's UUID). The target is
    ``destination_code`` (which sender) and ``destination_key`` (which configured
    instance of it, unique per event). ``result`` keeps what a successful send returned
    that later steps need (a deploy's platform id). The table keeps its first name so
    databases upgrade in place.
    """

    __tablename__ = "event_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "destination_key"),
        UniqueConstraint("kind", "subject_ref", "destination_key"),
        Index("ix_event_deliveries_kind_due", "kind", "status", "next_attempt_at"),
        Index("ix_event_deliveries_storefront_status", "storefront_id", "status"),
        IDS_NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), nullable=False, server_default="relay")
    event_id: Mapped[int | None] = mapped_column(
        ForeignKey("marketing_events.id", ondelete="CASCADE")
    )
    subject_ref: Mapped[str | None] = mapped_column(String(64), index=True)
    storefront_id: Mapped[int | None] = mapped_column(Integer)  # none: a campaign deploy
    destination_type: Mapped[str] = mapped_column(String(20), nullable=False)  # sgtm | platform
    destination_code: Mapped[str] = mapped_column(String(50), nullable=False)  # meta, sgtm_ga4
    destination_key: Mapped[str] = mapped_column(String(80), nullable=False)  # unique per event
    sgtm_config_id: Mapped[int | None] = mapped_column(Integer)
    credential_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), nullable=False, server_default="pending")
    attempt_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    # attempt_count when the delivery was last replayed: the retry budget counts from here,
    # while attempt numbers go on (the audit never repeats one)
    attempt_base: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(100))  # the holder's lease token
    last_error: Mapped[str | None] = mapped_column(Text)
    last_http_status: Mapped[int | None] = mapped_column(Integer)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    result: Mapped[object | None] = mapped_column(JSONText())


class DeliveryRequest(Base):
    """One HTTP request as sent (secrets scrubbed) and what came back. A batched request
    carries many deliveries; each of their attempts points here, so the exact body is
    stored once per request, not once per event."""

    __tablename__ = "delivery_requests"
    __table_args__ = IDS_NEVER_REUSED

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


class DeliveryAttempt(Base):
    """The audit: one row per attempt of a delivery (or per decision not to send it)."""

    __tablename__ = "event_attempts"
    __table_args__ = (Index("ix_event_attempts_event_id", "event_id"), IDS_NEVER_REUSED)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    event_id: Mapped[int | None] = mapped_column(
        ForeignKey("marketing_events.id", ondelete="CASCADE")
    )
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("event_deliveries.id", ondelete="CASCADE"), index=True, nullable=False
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
