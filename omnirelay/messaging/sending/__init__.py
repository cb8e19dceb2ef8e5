"""Message sends: a decision to send becomes a durable send row and a delivery of kind
``message``, worked by the delivery engine like every other kind.

``enqueue_send`` is what the decision path calls, in the transaction that records the
decision and its suppression claim; the provider is called later, by a worker
(``omnirelay.messaging.sending.kind``), which renders the template, picks the channel's
provider from the settings and records the outcome on the send row.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from omnirelay.messaging.repository import run
from omnirelay.models import Delivery, MessageSend, MessageSendStatus, table_of
from omnirelay.models.base import utcnow

KIND = "message"
# the trait that holds each channel's address; an alert goes to the CX team instead
RECIPIENT_TRAITS = {"email": "email", "sms": "phone", "push": "push_token"}
SENDS = table_of(MessageSend)
DELIVERIES = table_of(Delivery)


@dataclass(frozen=True)
class NewSend:
    """What a send needs, fixed when it is decided."""

    decision_id: int  # message_decisions.id
    event_id: int  # marketing_events.id of the triggering event
    storefront_id: int
    user_id: str
    rule_name: str
    template_name: str
    channel: str  # email | sms | push | alert
    # what the template renders with: {"event": {...}, "properties": {...},
    # "user_traits": {...}} (traits merged with the stored profile)
    context: dict[str, Any] = field(default_factory=dict)
    not_before: datetime | None = None  # quiet hours: not sent before this (UTC)
    # where it goes, when not the channel's trait (email, phone, push_token) or, for an
    # alert, MESSAGING_ALERT_RECIPIENT
    recipient: str | None = None


def recipient_of(channel: str, context: dict[str, Any]) -> str | None:
    """The address the user's traits give for ``channel`` (None: they give none)."""
    trait = RECIPIENT_TRAITS.get(channel)
    if trait is None:
        return None
    value = (context.get("user_traits") or {}).get(trait)
    text = str(value).strip() if value is not None else ""
    return text or None


def destination_key(decision_id: int) -> str:
    return f"{KIND}:{decision_id}"


def enqueue_send(session: Session, send: NewSend) -> int:
    """Insert the send row and its delivery in ``session``'s transaction (never commits);
    the send row's id.

    The delivery is due at ``not_before`` (quiet hours) or now. Its subject is the
    decision (``subject_ref``), so it does not wait for the send row's id."""
    now = utcnow()
    inserted = run(
        session,
        SENDS.insert(),
        dict(
            decision_id=send.decision_id,
            event_id=send.event_id,
            storefront_id=send.storefront_id,
            user_id=send.user_id,
            rule_name=send.rule_name,
            template_name=send.template_name,
            channel=send.channel,
            recipient=send.recipient or recipient_of(send.channel, send.context),
            status=MessageSendStatus.QUEUED.value,
            idempotency_key=f"omnirelay-{uuid.uuid4().hex}",
            context=send.context,
            not_before=send.not_before,
            created_at=now,
            updated_at=now,
        ),
    )
    run(
        session,
        DELIVERIES.insert(),
        dict(
            kind=KIND,
            event_id=send.event_id,
            subject_ref=str(send.decision_id),
            storefront_id=send.storefront_id,
            destination_type=KIND,
            destination_code=send.channel,
            destination_key=destination_key(send.decision_id),
            next_attempt_at=max(send.not_before, now) if send.not_before else now,
            created_at=now,
            updated_at=now,
        ),
    )
    return int(inserted.inserted_primary_key[0])


__all__ = ["KIND", "NewSend", "enqueue_send", "recipient_of"]
