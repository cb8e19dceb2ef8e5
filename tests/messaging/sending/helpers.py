"""Shared set-up for message sending tests: a stored event, sends enqueued as the
decision side enqueues them, and a worker with the messaging settings a test needs."""

from __future__ import annotations

import itertools
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from omnirelay.config import Settings
from omnirelay.delivery.worker import Worker
from omnirelay.messaging.sending import NewSend, enqueue_send
from omnirelay.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryRequest,
    MarketingEvent,
    MessageSend,
    Storefront,
)
from omnirelay.pipeline import create_worker
from tests.messaging.test_shipped_rules import SEED_EVENT

CONFIG_TEMPLATES = Path(__file__).parents[3] / "config" / "templates"
WEBHOOK_SECRET = "whsec-messaging-0123456789abcdef"
SMTP_PASSWORD = "smtp-password-0123456789"
# what the decision side hands over for seed 003's example event (with a phone for SMS)
SEED_CONTEXT: dict[str, Any] = {
    "event": {key: SEED_EVENT[key] for key in ("user_id", "event_type", "event_timestamp")},
    "properties": SEED_EVENT["properties"],
    "user_traits": SEED_EVENT["user_traits"] | {"phone": "+14155550100"},
}
_decisions = itertools.count(1)


async def stored_event(
    sessionmaker: Any, user_id: str = "user_12345", status: str = "queued"
) -> tuple[int, int]:
    """A storefront and a behavioural event of it: (storefront id, event id)."""
    async with sessionmaker() as session, session.begin():
        storefront = (
            await session.execute(select(Storefront).where(Storefront.code == "shop"))
        ).scalar_one_or_none()
        if storefront is None:
            storefront = Storefront(code="shop", name="Shop", is_active=True)
            session.add(storefront)
        event = MarketingEvent(
            event_id=f"evt-{next(_decisions)}-{user_id}",
            event_type="payment_failed",
            event_payload="{}",
            source_system="messaging",
            status=status,
            user_id=user_id,
        )
        await session.flush()
        event.storefront_id = storefront.id
        session.add(event)
        await session.flush()
        ids = storefront.id, event.id
    return ids


def new_send(
    storefront_id: int,
    event_id: int,
    *,
    template: str = "INSUFFICIENT_FUNDS_EMAIL",
    channel: str = "email",
    context: dict[str, Any] | None = None,
    not_before: datetime | None = None,
    **fields: Any,
) -> NewSend:
    return NewSend(
        decision_id=next(_decisions),
        event_id=event_id,
        storefront_id=storefront_id,
        user_id="user_12345",
        rule_name=fields.pop("rule_name", "insufficient_funds_email"),
        template_name=template,
        channel=channel,
        context=SEED_CONTEXT if context is None else context,
        not_before=not_before,
        **fields,
    )


async def enqueue(sessionmaker: Any, *sends: NewSend) -> list[int]:
    """The sends committed as the decision path commits them; their row ids."""
    async with sessionmaker() as session, session.begin():
        return await session.run_sync(lambda sync: [enqueue_send(sync, s) for s in sends])


async def send_rows(sessionmaker: Any) -> list[MessageSend]:
    async with sessionmaker() as session:
        return list((await session.execute(select(MessageSend).order_by(MessageSend.id))).scalars())


async def message_deliveries(sessionmaker: Any) -> list[Delivery]:
    async with sessionmaker() as session:
        query = select(Delivery).where(Delivery.kind == "message").order_by(Delivery.id)
        return list((await session.execute(query)).scalars())


def messaging_settings(settings: Settings, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "rules_templates_dir": CONFIG_TEMPLATES,
        "messaging_file_path": tmp_path / "messages.txt",
    } | overrides
    return settings.model_copy(update=values)


def message_worker(app: Any, settings: Settings, client: httpx.AsyncClient | None = None) -> Worker:
    state = app.state
    return create_worker(settings, state.sessionmaker, state.vault, state.metrics, client=client)


def file_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


async def assert_secret_nowhere(
    sessionmaker: Any, caplog: pytest.LogCaptureFixture, secret: str
) -> None:
    """``secret`` is in no stored row of a send and in no log line of omnirelay's."""
    async with sessionmaker() as session:
        for model in (MessageSend, Delivery, DeliveryRequest, DeliveryAttempt):
            for row in (await session.execute(select(model))).scalars():
                for column in model.__table__.columns:
                    assert secret not in str(getattr(row, column.key, "")), (model, column)
    # the test SMTP server's own log (mail.log) shows what it was sent: it is not omnirelay's
    ours = [r for r in caplog.records if not r.name.startswith("mail.log")]
    leaked = [(r.name, r.getMessage()) for r in ours if secret in r.getMessage()]
    assert ours and not leaked, (len(ours), leaked[:3])
