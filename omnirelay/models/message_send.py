from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from omnirelay.models.base import (
    IDS_NEVER_REUSED,
    Base,
    BigIntId,
    JSONText,
    TimestampMixin,
    UTCDateTime,
)
from omnirelay.models.messaging import RULE_NAME_LENGTH, TEMPLATE_NAME_LENGTH


class MessageSendStatus(StrEnum):
    QUEUED = "queued"  # waiting for its first attempt (or for the end of quiet hours)
    RETRYING = "retrying"  # an attempt failed; the delivery engine tries again later
    SENT = "sent"  # the provider accepted it
    DEAD = "dead"  # will not be sent: ``error_code`` says why; a replay puts it back
    SKIPPED = "skipped"


class MessageSend(TimestampMixin, Base):
    """A decision to send a message (seed 003's send request), and what became of it.

    Its delivery (``event_deliveries`` of kind ``message``, ``subject_ref`` = this id)
    carries the attempts; this row keeps what the audit of messaging needs: who, which
    rule and template, by which channel and provider, the text as rendered, and the reason
    a send failed. ``decision_id`` refers to the decision that made it (no foreign key:
    decisions are kept by another part of messaging, and a send outlives nothing it needs
    from there). ``idempotency_key`` is fixed when the send is made and goes with every
    attempt, so a provider that got it once does not deliver it twice."""

    __tablename__ = "message_sends"
    __table_args__ = (
        Index("ix_message_sends_user_created", "user_id", "created_at"),
        Index("ix_message_sends_storefront_status", "storefront_id", "status"),
        IDS_NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    decision_id: Mapped[int] = mapped_column(BigInteger, nullable=False, unique=True)
    event_id: Mapped[int | None] = mapped_column(
        ForeignKey("marketing_events.id", ondelete="CASCADE"), index=True
    )
    storefront_id: Mapped[int] = mapped_column(Integer, nullable=False)
    user_id: Mapped[str] = mapped_column(String(255), nullable=False)
    rule_name: Mapped[str] = mapped_column(String(RULE_NAME_LENGTH), nullable=False)
    template_name: Mapped[str] = mapped_column(String(TEMPLATE_NAME_LENGTH), nullable=False)
    channel: Mapped[str] = mapped_column(String(20), nullable=False)  # email|sms|push|alert
    # file | smtp | webhook: the channel's provider when it was last sent
    provider: Mapped[str | None] = mapped_column(String(20))
    recipient: Mapped[str | None] = mapped_column(String(320))  # None: the traits had none
    status: Mapped[str] = mapped_column(String(20), nullable=False, server_default="queued")
    idempotency_key: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    # what the template renders with (event, properties, user_traits), as decided
    context: Mapped[dict[str, Any]] = mapped_column(JSONText(), nullable=False)
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime())  # quiet hours
    subject: Mapped[str | None] = mapped_column(Text)  # as rendered (email)
    body: Mapped[str | None] = mapped_column(Text)  # as rendered
    error_code: Mapped[str | None] = mapped_column(String(40))  # template_error, ...
    error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
