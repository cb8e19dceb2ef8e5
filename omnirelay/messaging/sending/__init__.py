"""Message sends: a decision to send becomes a durable send row and a delivery of kind
``message``, worked by the delivery engine like every other kind.

``enqueue_send`` is what the decision path calls, in the transaction that records the
decision and its suppression claim; the provider is called later, by a worker
(``omnirelay.messaging.sending.kind``), which renders the template, picks the channel's
provider from the settings and records the outcome on the send row.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import String, bindparam, cast, literal, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from omnirelay.messaging.repository import (
    insert_decision,
    inserted_after,
    inserts_in_one_statement,
    run,
)
from omnirelay.models import Delivery, MessageDecision, MessageSend, MessageSendStatus, table_of
from omnirelay.models.base import utcnow

KIND = "message"
# the trait that holds each channel's address; an alert goes to the CX team instead
RECIPIENT_TRAITS = {"email": "email", "sms": "phone", "push": "push_token"}
SENDS = table_of(MessageSend)
DELIVERIES = table_of(Delivery)
DECISIONS = table_of(MessageDecision)


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


def _send_row(send: NewSend, now: datetime) -> dict[str, Any]:
    """The send row, but for its ``decision_id``."""
    return dict(
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
    )


def _delivery_row(send: NewSend, now: datetime) -> dict[str, Any]:
    """The send's delivery, but for what names its decision (``subject_ref``,
    ``destination_key``)."""
    return dict(
        kind=KIND,
        event_id=send.event_id,
        storefront_id=send.storefront_id,
        destination_type=KIND,
        destination_code=send.channel,
        next_attempt_at=max(send.not_before, now) if send.not_before else now,
        created_at=now,
        updated_at=now,
    )


def enqueue_send(session: Session, send: NewSend) -> int:
    """Insert the send row and its delivery in ``session``'s transaction (never commits);
    the send row's id.

    The delivery is due at ``not_before`` (quiet hours) or now. Its subject is the
    decision (``subject_ref``), so it does not wait for the send row's id."""
    now = utcnow()
    inserted = run(
        session, SENDS.insert(), _send_row(send, now) | {"decision_id": send.decision_id}
    )
    names_decision = {
        "subject_ref": str(send.decision_id),
        "destination_key": destination_key(send.decision_id),
    }
    run(session, DELIVERIES.insert(), _delivery_row(send, now) | names_decision)
    return int(inserted.inserted_primary_key[0])


def record_decision_and_send(session: Session, decision: dict[str, Any], send: NewSend) -> int:
    """The decision (``message_decisions`` values), its send row and the send's delivery,
    in ``session``'s transaction; the decision's id (``send.decision_id`` is not read)."""
    if inserts_in_one_statement(session):
        return insert_decision_with_send(session, decision, send)
    decision_id = insert_decision(session, decision)
    enqueue_send(session, replace(send, decision_id=decision_id))
    return decision_id


def insert_decision_with_send(session: Session, decision: dict[str, Any], send: NewSend) -> int:
    """PostgreSQL: the decision, its send row and the send's delivery in one statement
    (``enqueue_send``'s rows, the decision's new id filled in by the database); the
    decision's id. ``send.decision_id`` is not read."""
    now = utcnow()
    sent, delivery = _send_row(send, now), _delivery_row(send, now)
    statement = _decision_with_send(tuple(decision), tuple(sent), tuple(delivery))
    params = (
        {f"d_{k}": v for k, v in decision.items()}
        | {f"s_{k}": v for k, v in sent.items()}
        | {f"x_{k}": v for k, v in delivery.items()}
    )
    return int(run(session, statement, params).scalar_one())


@functools.cache
def _decision_with_send(
    decision: tuple[str, ...], sent: tuple[str, ...], delivery: tuple[str, ...]
) -> Any:
    new = (
        postgresql.insert(DECISIONS)
        .values({k: bindparam(f"d_{k}", type_=DECISIONS.c[k].type) for k in decision})
        .returning(DECISIONS.c.id)
        .cte("new_decision")
    )
    ref = cast(new.c.id, String)
    send_insert = inserted_after(SENDS, "s", sent, {"decision_id": new.c.id})
    delivery_insert = inserted_after(
        DELIVERIES,
        "x",
        delivery,
        {"subject_ref": ref, "destination_key": literal(f"{KIND}:") + ref},
    )
    return (
        select(new.c.id)
        .add_cte(send_insert.cte("new_send"))
        .add_cte(delivery_insert.cte("new_delivery"))
    )
