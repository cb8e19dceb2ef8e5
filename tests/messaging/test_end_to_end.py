"""A behavioural event from POST /events to the message on the provider: decided and
enqueued in the answering transaction, rendered and written by the worker, once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from omnirelay.models import MessageSend
from tests.messaging.conftest import Clock, event
from tests.messaging.sending.helpers import (
    CONFIG_TEMPLATES,
    file_lines,
    message_worker,
    messaging_settings,
)

OPTED_IN = {"email": "john.doe@example.com", "country": "US", "marketing_opt_in": True}
SEED_PROPERTIES = {
    "failure_reason": "INSUFFICIENT_FUNDS",
    "attempt_number": 1,
    "amount": 29.99,
    "currency": "USD",
}


async def test_a_posted_event_becomes_one_message_in_the_file(
    client: httpx.AsyncClient,
    storefront: int,
    clock: Clock,
    app: Any,
    settings: Any,
    sessionmaker: Any,
    tmp_path: Path,
) -> None:
    body = event(properties=SEED_PROPERTIES, traits=OPTED_IN)
    answer = (await client.post("/events", json=body)).json()
    assert answer["reason_code"] == "sent", answer
    again = (await client.post("/events", json=body)).json()
    assert again["event_id"] == answer["event_id"]  # the same event: nothing more is sent

    config = messaging_settings(settings, tmp_path)
    worker = message_worker(app, config)
    await worker.start()
    try:
        await worker.drain()
    finally:
        await worker.close()

    [line] = file_lines(tmp_path / "messages.txt")
    assert (line["user_id"], line["recipient"]) == ("user_12345", "john.doe@example.com")
    assert (line["rule"], line["template"]) == (
        "insufficient_funds_email",
        "INSUFFICIENT_FUNDS_EMAIL",
    )
    assert "29.99 USD" in line["subject"] and "29.99 USD" in line["body"]
    async with sessionmaker() as session:
        [sent] = (await session.execute(select(MessageSend))).scalars().all()
    assert sent.status == "sent"
    audit = (await client.get("/audit/user_12345")).json()
    assert [d["reason_code"] for d in audit["decisions"]] == ["sent"]


async def test_a_template_that_fails_to_render_is_in_the_users_audit(
    client: httpx.AsyncClient,
    storefront: int,
    clock: Clock,
    app: Any,
    settings: Any,
    sessionmaker: Any,
    tmp_path: Path,
) -> None:
    """ "Why did this user not get the message?": the decision said send, the template
    failed at send time, and the audit says so with the template's error."""
    templates = tmp_path / "templates"
    templates.mkdir()
    for path in CONFIG_TEMPLATES.glob("*.j2"):
        (templates / path.name).write_text(path.read_text())
    (templates / "INSUFFICIENT_FUNDS_EMAIL.j2").write_text(
        "{% block subject %}Payment{% endblock %}{% block body %}{{ properties.amount / 0 }}"
        "{% endblock %}"
    )
    answer = await client.post("/events", json=event(properties=SEED_PROPERTIES, traits=OPTED_IN))
    assert answer.json()["reason_code"] == "sent"

    worker = message_worker(
        app, messaging_settings(settings, tmp_path, rules_templates_dir=templates)
    )
    await worker.start()
    try:
        await worker.drain()
    finally:
        await worker.close()

    assert file_lines(tmp_path / "messages.txt") == []
    [decision] = (await client.get("/audit/user_12345")).json()["decisions"]
    assert decision["reason_code"] == "template_error"
    assert "the message was not sent: template_error: " in decision["reason"]
    assert "ZeroDivisionError" in decision["reason"]
    filtered = await client.get("/audit/user_12345", params={"reason_code": "template_error"})
    assert filtered.json()["total"] == 1
