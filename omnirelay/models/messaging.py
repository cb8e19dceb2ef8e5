"""Messaging: the known fields of behavioural events and users (seed 002's explicit columns),
the decisions the rules made, and the claims that keep suppression and caps race-free.

Suppression and caps are enforced by the database, never by a read-then-write:

- ``message_suppressions``: one row per (storefront, user, rule, window) — the window is
  ``once_ever`` or the UTC date of the event. A send claims it with an insert that skips
  duplicates; a claim that inserts nothing is a suppression.
- ``message_cap_slots``: a cap of N sends per rolling window W is up to N slot rows per
  (storefront, user, scope). A send takes the lowest free slot with ``UPDATE ... WHERE slot =
  (the lowest free one) AND (held_at IS NULL OR held_at < this event's time - W)``: the row
  lock and the condition, re-checked by the database against the latest committed row, let
  exactly one of two simultaneous sends take it. When none is free and fewer than N exist,
  the send inserts the next slot already held; the key lets one insert it. A slot holds the
  event time of its latest send, so no N+1 sends fit in any window. Slots, unlike one
  counter row per window, make the window rolling; unlike one row per send, they never grow
  past N rows per user and scope.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from omnirelay.models.base import (
    IDS_NEVER_REUSED,
    Base,
    BigIntId,
    CaseSensitiveString,
    JSONText,
    UTCDateTime,
    utc_timestamp_default,
    utcnow,
)

# Long enough for any rule name a file can give sensibly; names are keys of the claims.
RULE_NAME_LENGTH = 200
TEMPLATE_NAME_LENGTH = 200


class EventProperties(Base):
    """The known ``properties`` of a behavioural event, one row per event (1:1). The raw
    payload stays in ``marketing_events.event_payload``; a value of the wrong kind is left
    out here (NULL), never guessed."""

    __tablename__ = "event_properties"

    event_id: Mapped[int] = mapped_column(
        ForeignKey("marketing_events.id", ondelete="CASCADE"), primary_key=True
    )
    failure_reason: Mapped[str | None] = mapped_column(String(100), index=True)
    attempt_number: Mapped[int | None] = mapped_column(Integer, index=True)
    amount: Mapped[float | None] = mapped_column(Float)
    currency: Mapped[str | None] = mapped_column(String(10))
    plan: Mapped[str | None] = mapped_column(String(100))


class KnownTraitColumns:
    """The traits kept as columns (``messaging.service.KNOWN_TRAITS`` names their lengths)."""

    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(50))
    country: Mapped[str | None] = mapped_column(String(50))
    marketing_opt_in: Mapped[bool | None] = mapped_column(Boolean, index=True)
    timezone: Mapped[str | None] = mapped_column(String(64))
    risk_segment: Mapped[str | None] = mapped_column(String(50), index=True)


class EventTraits(KnownTraitColumns, Base):
    """The known ``user_traits`` an event carried, one row per event (1:1), as seed 002
    keeps them: what the producer said of the user at that event, queryable by column
    (``user_traits`` holds the profile built from them). A value of the wrong kind or too
    long for its column is left out here (NULL); the raw payload keeps it."""

    __tablename__ = "event_traits"

    event_id: Mapped[int] = mapped_column(
        ForeignKey("marketing_events.id", ondelete="CASCADE"), primary_key=True
    )


class UserTraits(KnownTraitColumns, Base):
    """The latest known traits of a user of a storefront: what an event without (some of
    its) ``user_traits`` is evaluated with. Known traits are columns; the rest is ``other``.
    ``traits_at`` is the timestamp of the newest event that set them: an older event fills
    in only what the profile lacks."""

    __tablename__ = "user_traits"

    storefront_id: Mapped[int] = mapped_column(
        ForeignKey("storefronts.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(CaseSensitiveString(255), primary_key=True)
    other: Mapped[dict[str, Any] | None] = mapped_column(JSONText())
    traits_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, server_default=utc_timestamp_default(), default=utcnow
    )


class MessageDecision(Base):
    """What the rules decided for one stored event, and why: the audit."""

    __tablename__ = "message_decisions"
    __table_args__ = (
        Index("ix_message_decisions_user_decided", "user_id", "decided_at"),
        Index("ix_message_decisions_user_type_decided", "user_id", "event_type", "decided_at"),
        Index("ix_message_decisions_user_rule_decided", "user_id", "rule", "decided_at"),
        IDS_NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    # One decision per stored event: a re-posted or re-routed event is not decided again.
    event_id: Mapped[int] = mapped_column(
        ForeignKey("marketing_events.id", ondelete="CASCADE"), unique=True, nullable=False
    )
    storefront_id: Mapped[int] = mapped_column(Integer, nullable=False)
    user_id: Mapped[str] = mapped_column(CaseSensitiveString(255), nullable=False)
    event_type: Mapped[str] = mapped_column(CaseSensitiveString(50), nullable=False)
    event_timestamp: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    rule: Mapped[str | None] = mapped_column(CaseSensitiveString(RULE_NAME_LENGTH))
    action_type: Mapped[str | None] = mapped_column(String(10))
    template_name: Mapped[str | None] = mapped_column(String(TEMPLATE_NAME_LENGTH))
    channel: Mapped[str | None] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(20), nullable=False)  # allow | suppress | none
    reason_code: Mapped[str] = mapped_column(String(40), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    explanation: Mapped[dict[str, Any] | None] = mapped_column(JSONText())
    rules_version: Mapped[str] = mapped_column(String(64), nullable=False)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime())


class MessageSuppression(Base):
    """A send's claim on its suppression window: the key is unique, so of two simultaneous
    identical sends one inserts it and the other is suppressed."""

    __tablename__ = "message_suppressions"

    storefront_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(CaseSensitiveString(255), primary_key=True)
    rule_name: Mapped[str] = mapped_column(CaseSensitiveString(RULE_NAME_LENGTH), primary_key=True)
    window_key: Mapped[str] = mapped_column(String(20), primary_key=True)  # once_ever | date
    event_id: Mapped[int] = mapped_column(
        ForeignKey("marketing_events.id", ondelete="CASCADE"), nullable=False, index=True
    )
    event_timestamp: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class MessageCapSlot(Base):
    """One of the N sends a cap allows per rolling window (see the module docstring).
    ``scope``: ``rule:<name>`` for a rule's own ``max``, ``marketing`` for the global cap."""

    __tablename__ = "message_cap_slots"

    storefront_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(CaseSensitiveString(255), primary_key=True)
    scope: Mapped[str] = mapped_column(CaseSensitiveString(RULE_NAME_LENGTH + 5), primary_key=True)
    slot: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    held_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # its send's event time
    event_id: Mapped[int | None] = mapped_column(BigIntId)


class MessageInbox(Base):
    """Stored OMS events the worker still has to evaluate against the rules (routing adds
    them; evaluating one removes it in the transaction that records its decision)."""

    __tablename__ = "message_inbox"

    event_id: Mapped[int] = mapped_column(
        ForeignKey("marketing_events.id", ondelete="CASCADE"), primary_key=True
    )
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


__all__ = [
    "RULE_NAME_LENGTH",
    "TEMPLATE_NAME_LENGTH",
    "EventProperties",
    "EventTraits",
    "MessageCapSlot",
    "MessageDecision",
    "MessageInbox",
    "MessageSuppression",
    "UserTraits",
]
