"""``enqueue_send``: one send row and one delivery of kind ``message``, in the caller's
transaction, due at once or at the end of quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from omnirelay.db import run_transaction
from omnirelay.delivery.subjects import refresh_event_status
from omnirelay.messaging.sending import enqueue_send
from omnirelay.models import Delivery, MarketingEvent
from omnirelay.models.base import utcnow
from tests.messaging.sending.helpers import (
    SEED_CONTEXT,
    enqueue,
    message_deliveries,
    new_send,
    send_rows,
    stored_event,
)


async def test_a_send_is_a_row_and_a_delivery(app: Any, sessionmaker: Any) -> None:
    storefront, event = await stored_event(sessionmaker)
    send = new_send(storefront, event)
    before = datetime.now(UTC)
    [send_id] = await enqueue(sessionmaker, send)

    [row] = await send_rows(sessionmaker)
    assert row.id == send_id
    assert (row.decision_id, row.event_id, row.storefront_id, row.user_id) == (
        send.decision_id,
        event,
        storefront,
        "user_12345",
    )
    assert (row.rule_name, row.template_name, row.channel) == (
        "insufficient_funds_email",
        "INSUFFICIENT_FUNDS_EMAIL",
        "email",
    )
    assert (row.status, row.recipient, row.provider) == ("queued", "john.doe@example.com", None)
    assert row.idempotency_key.startswith("omnirelay-") and len(row.idempotency_key) > 30
    assert row.context == SEED_CONTEXT
    assert (row.subject, row.body, row.error_code, row.sent_at) == (None, None, None, None)

    [delivery] = await message_deliveries(sessionmaker)
    assert (delivery.kind, delivery.event_id, delivery.subject_ref) == (
        "message",
        event,
        str(send.decision_id),
    )
    assert (delivery.storefront_id, delivery.destination_code, delivery.destination_key) == (
        storefront,
        "email",
        f"message:{send.decision_id}",
    )
    assert delivery.status == "pending"
    assert before - timedelta(seconds=1) <= delivery.next_attempt_at <= datetime.now(UTC)


async def test_each_channel_takes_its_recipient_from_the_traits(
    app: Any, sessionmaker: Any
) -> None:
    storefront, event = await stored_event(sessionmaker)
    traits = {"email": "a@example.com", "phone": "+14155550100", "push_token": "tok-1"}
    context = SEED_CONTEXT | {"user_traits": traits}
    await enqueue(
        sessionmaker,
        *(
            new_send(storefront, event, channel=channel, context=context)
            for channel in ("email", "sms", "push", "alert")
        ),
        new_send(storefront, event, channel="sms", context=SEED_CONTEXT | {"user_traits": {}}),
        new_send(storefront, event, channel="alert", recipient="cx@example.com"),
    )
    rows = await send_rows(sessionmaker)
    assert [(r.channel, r.recipient) for r in rows] == [
        ("email", "a@example.com"),
        ("sms", "+14155550100"),
        ("push", "tok-1"),
        ("alert", None),  # the CX team's, set when it is sent
        ("sms", None),  # none: a permanent outcome when it is sent
        ("alert", "cx@example.com"),
    ]


async def test_a_quiet_hours_send_is_due_when_they_end(app: Any, sessionmaker: Any) -> None:
    storefront, event = await stored_event(sessionmaker)
    morning = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=9)
    await enqueue(sessionmaker, new_send(storefront, event, not_before=morning))
    [row] = await send_rows(sessionmaker)
    [delivery] = await message_deliveries(sessionmaker)
    assert row.not_before == morning
    assert delivery.next_attempt_at == morning


async def test_it_writes_in_the_callers_transaction_and_never_commits(
    app: Any, sessionmaker: Any
) -> None:
    storefront, event = await stored_event(sessionmaker)
    async with sessionmaker() as session, session.begin():
        send = new_send(storefront, event)
        send_id = await session.run_sync(lambda sync: enqueue_send(sync, send))
        assert send_id > 0  # inserted: the caller can refer to it
        await session.rollback()  # the caller's decision failed: nothing of it stays
    assert await send_rows(sessionmaker) == []
    assert await message_deliveries(sessionmaker) == []


async def test_one_decision_makes_one_send(app: Any, sessionmaker: Any) -> None:
    storefront, event = await stored_event(sessionmaker)
    send = new_send(storefront, event)
    await enqueue(sessionmaker, send)
    with pytest.raises(IntegrityError):
        await enqueue(sessionmaker, send)
    assert len(await send_rows(sessionmaker)) == 1


async def test_a_message_sent_before_its_event_is_routed_leaves_the_event_pending(
    app: Any, sessionmaker: Any
) -> None:
    """A decision made when the event is stored can be sent before the dispatcher routes
    the event: settling the message must not mark the event done, or it is never routed."""
    storefront, pending = await stored_event(sessionmaker, status="pending")
    _, routed = await stored_event(sessionmaker, status="queued")
    await enqueue(sessionmaker, new_send(storefront, pending), new_send(storefront, routed))
    async with sessionmaker() as session, session.begin():
        await session.execute(update(Delivery).values(status="delivered"))

    def refresh(session: Any) -> None:
        refresh_event_status(session, {pending, routed}, utcnow(), routed_only=True)

    await run_transaction(sessionmaker, refresh)
    async with sessionmaker() as session:
        statuses = dict(
            (await session.execute(select(MarketingEvent.id, MarketingEvent.status))).all()
        )
    assert statuses == {pending: "pending", routed: "delivered"}
