"""Messages through the worker: claimed, rendered, sent by the channel's provider (the
file by default, the webhook to the sandbox), recorded attempt by attempt, settled on
the send row; a retry never delivers one message twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select, update

from omnirelay.models import Delivery, DeliveryRequest, MarketingEvent
from omnirelay.sandbox.core import SANDBOX
from tests.delivery.helpers import attempts, make_all_due
from tests.messaging.sending.helpers import (
    CONFIG_TEMPLATES,
    SEED_CONTEXT,
    WEBHOOK_SECRET,
    assert_secret_nowhere,
    enqueue,
    file_lines,
    message_deliveries,
    message_worker,
    messaging_settings,
    new_send,
    send_rows,
    stored_event,
)


async def _requests(sessionmaker: Any) -> list[DeliveryRequest]:
    async with sessionmaker() as session:
        query = select(DeliveryRequest).order_by(DeliveryRequest.id)
        return list((await session.execute(query)).scalars())


async def test_the_seed_email_is_written_to_messages_txt(
    app: Any, settings: Any, sessionmaker: Any, tmp_path: Path
) -> None:
    config = messaging_settings(settings, tmp_path)
    storefront, event = await stored_event(sessionmaker)
    [send_id] = await enqueue(sessionmaker, new_send(storefront, event))
    worker = message_worker(app, config)
    await worker.drain()
    await worker.close()

    [line] = file_lines(config.messages_file)
    [row] = await send_rows(sessionmaker)
    assert line["send_id"] == send_id and line["idempotency_key"] == row.idempotency_key
    assert (line["channel"], line["recipient"], line["template"], line["rule"]) == (
        "email",
        "john.doe@example.com",
        "INSUFFICIENT_FUNDS_EMAIL",
        "insufficient_funds_email",
    )
    assert line["subject"] == "Your payment of 29.99 USD did not go through"
    assert line["body"].startswith("Hello,\n\nWe tried to take your payment of 29.99 USD")
    assert (row.status, row.provider, row.error_code) == ("sent", "file", None)
    assert (row.subject, row.body) == (line["subject"], line["body"])
    assert row.sent_at is not None

    [delivery] = await message_deliveries(sessionmaker)
    assert (delivery.status, delivery.attempt_count) == ("delivered", 1)
    [attempt] = await attempts(sessionmaker)
    [request] = await _requests(sessionmaker)
    assert (attempt.status, attempt.delivery_id, attempt.request_id) == (
        "delivered",
        delivery.id,
        request.id,
    )
    assert (request.method, request.url, request.http_status) == (
        "APPEND",
        config.messages_file.absolute().as_uri(),
        None,
    )
    assert request.response_body == "written: messages.txt"
    async with sessionmaker() as session:
        status = (
            await session.execute(select(MarketingEvent.status).where(MarketingEvent.id == event))
        ).scalar_one()
    assert status == "delivered"  # the event sums up its deliveries, the message's too


async def test_a_message_written_but_not_recorded_is_not_written_again(
    app: Any, settings: Any, sessionmaker: Any, tmp_path: Path
) -> None:
    """A worker that died after writing and before recording: the claim runs out, another
    worker sends again, and the file already has the message's key."""
    config = messaging_settings(settings, tmp_path)
    storefront, event = await stored_event(sessionmaker)
    await enqueue(sessionmaker, new_send(storefront, event), new_send(storefront, event))
    worker = message_worker(app, config)
    await worker.drain()
    async with sessionmaker() as session, session.begin():
        await session.execute(
            update(Delivery).values(status="pending", next_attempt_at=datetime.now(UTC))
        )
    # another process (no memory of what this one wrote) finds the lines in the file
    second = message_worker(app, config)
    await second.drain()
    await worker.close()
    await second.close()

    lines = file_lines(config.messages_file)
    assert len(lines) == 2
    assert len({line["idempotency_key"] for line in lines}) == 2
    requests = await _requests(sessionmaker)
    assert sorted(r.response_body or "" for r in requests) == [
        "already written: messages.txt",
        "already written: messages.txt",
        "written: messages.txt",
        "written: messages.txt",
    ]
    assert {row.status for row in await send_rows(sessionmaker)} == {"sent"}


async def test_a_template_error_is_a_dead_send_and_the_others_go(
    app: Any, settings: Any, sessionmaker: Any, tmp_path: Path
) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    for path in CONFIG_TEMPLATES.glob("*.j2"):
        (templates / path.name).write_text(path.read_text())
    (templates / "BROKEN_SMS.j2").write_text("Hi {{ user_traits.first_name }}, {{ oops }}")
    (templates / "BAD_SYNTAX.j2").write_text("Hi {% if %}")
    config = messaging_settings(settings, tmp_path, rules_templates_dir=templates)
    storefront, event = await stored_event(sessionmaker)
    await enqueue(
        sessionmaker,
        new_send(storefront, event, template="BROKEN_SMS", channel="sms"),
        new_send(storefront, event, template="BAD_SYNTAX", channel="sms"),
        new_send(storefront, event, template="PAYMENT_RETRY_SMS", channel="sms"),
    )
    worker = message_worker(app, config)
    await worker.drain()
    await worker.close()

    broken, bad_syntax, good = await send_rows(sessionmaker)
    for row in (broken, bad_syntax):
        assert (row.status, row.error_code, row.body) == ("dead", "template_error", None)
    assert "first_name" in (broken.error or "") and "UndefinedError" in (broken.error or "")
    assert "TemplateSyntaxError" in (bad_syntax.error or "")
    assert good.status == "sent"
    [line] = file_lines(config.messages_file)
    assert line["body"] == (
        "Your payment of 29.99 USD failed again. Retry or update your card in the app."
    )
    deliveries = await message_deliveries(sessionmaker)
    assert [d.status for d in deliveries] == ["dead", "dead", "delivered"]
    assert (deliveries[0].last_error or "").startswith("template_error: ")


async def test_a_message_without_a_recipient_is_dead_with_the_reason(
    app: Any, settings: Any, sessionmaker: Any, tmp_path: Path
) -> None:
    config = messaging_settings(settings, tmp_path)
    storefront, event = await stored_event(sessionmaker)
    no_phone = SEED_CONTEXT | {"user_traits": {"email": "a@example.com"}}
    bad_email = SEED_CONTEXT | {"user_traits": {"email": "not an address"}}
    await enqueue(
        sessionmaker,
        new_send(storefront, event, template="PAYMENT_RETRY_SMS", channel="sms", context=no_phone),
        new_send(storefront, event, context=bad_email),
    )
    worker = message_worker(app, config)
    await worker.drain()
    await worker.close()
    sms, email = await send_rows(sessionmaker)
    assert (sms.status, sms.error_code) == ("dead", "missing_recipient")
    assert sms.error == (
        "missing_recipient: the user's traits have no phone, so the sms cannot be sent"
    )
    assert (email.status, email.error_code) == ("dead", "invalid_recipient")
    assert file_lines(config.messages_file) == []


async def test_quiet_hours_hold_a_message_until_they_end(
    app: Any, settings: Any, sessionmaker: Any, tmp_path: Path
) -> None:
    config = messaging_settings(settings, tmp_path)
    storefront, event = await stored_event(sessionmaker)
    morning = datetime.now(UTC) + timedelta(hours=9)
    await enqueue(sessionmaker, new_send(storefront, event, not_before=morning))
    worker = message_worker(app, config)
    await worker.drain()
    assert file_lines(config.messages_file) == []
    assert [r.status for r in await send_rows(sessionmaker)] == ["queued"]

    await make_all_due(sessionmaker)  # the morning has come
    await worker.drain()
    await worker.close()
    assert len(file_lines(config.messages_file)) == 1
    assert [r.status for r in await send_rows(sessionmaker)] == ["sent"]


async def test_html_email_is_escaped(
    app: Any, settings: Any, sessionmaker: Any, tmp_path: Path
) -> None:
    config = messaging_settings(settings, tmp_path)
    storefront, event = await stored_event(sessionmaker)
    traits = {"email": "a@example.com", "first_name": "<script>alert(1)</script>"}
    await enqueue(
        sessionmaker,
        new_send(storefront, event, template="WELCOME_EMAIL", context={"user_traits": traits}),
    )
    worker = message_worker(app, config)
    await worker.drain()
    await worker.close()
    [line] = file_lines(config.messages_file)
    assert line["subject"] == "Welcome aboard"
    assert "<p>Hello &lt;script&gt;alert(1)&lt;/script&gt;,</p>" in line["html"]
    assert "<script>" not in line["html"]
    assert line["body"].startswith("Hello,")  # the text form


def _webhook_settings(settings: Any, tmp_path: Path, secret: str = WEBHOOK_SECRET) -> Any:
    return messaging_settings(
        settings,
        tmp_path,
        messaging_channels="alert=webhook,email=webhook",
        # the sandbox checks the signature with the secret it is given
        messaging_webhook_url=f"http://sandbox/webhook/messages?secret={WEBHOOK_SECRET}",
        messaging_webhook_secret=SecretStr(secret),
        messaging_alert_recipient="cx-team",
    )


async def test_an_alert_goes_to_the_webhook_signed(
    app: Any,
    settings: Any,
    sessionmaker: Any,
    tmp_path: Path,
    sandbox_http: httpx.AsyncClient,
    all_logs: pytest.LogCaptureFixture,
) -> None:
    config = _webhook_settings(settings, tmp_path)
    storefront, event = await stored_event(sessionmaker)
    await enqueue(
        sessionmaker,
        new_send(
            storefront,
            event,
            template="HIGH_RISK_PAYMENT_ALERT",
            channel="alert",
            rule_name="high_risk_payment_failure_alert",
        ),
    )
    worker = message_worker(app, config, sandbox_http)
    await worker.drain()
    await worker.close()
    [received] = SANDBOX.recorded("webhook")
    [row] = await send_rows(sessionmaker)
    assert received.response_status == 200  # the signature was verified
    assert received.headers["idempotency-key"] == row.idempotency_key
    assert received.headers["x-omnirelay-signature"].startswith("t=")
    assert received.body["recipient"] == "cx-team"
    assert received.body["body"].startswith("High-risk payment failure: user user_12345")
    assert (row.status, row.provider, row.recipient) == ("sent", "webhook", "cx-team")
    [request] = await _requests(sessionmaker)
    assert request.http_status == 200
    await assert_secret_nowhere(sessionmaker, all_logs, WEBHOOK_SECRET)


async def test_a_wrong_signature_is_refused_for_good(
    app: Any, settings: Any, sessionmaker: Any, tmp_path: Path, sandbox_http: httpx.AsyncClient
) -> None:
    config = _webhook_settings(settings, tmp_path, secret="another-secret-0123456789")
    storefront, event = await stored_event(sessionmaker)
    await enqueue(sessionmaker, new_send(storefront, event))
    worker = message_worker(app, config, sandbox_http)
    await worker.drain()
    await worker.close()
    [row] = await send_rows(sessionmaker)
    assert (row.status, row.error_code) == ("dead", "provider_rejected")
    assert (row.error or "").startswith("HTTP 401")


async def test_a_provider_outage_delays_messages_and_loses_none(
    app: Any, settings: Any, sessionmaker: Any, tmp_path: Path, sandbox_http: httpx.AsyncClient
) -> None:
    config = _webhook_settings(settings, tmp_path)
    storefront, event = await stored_event(sessionmaker)
    await enqueue(sessionmaker, *(new_send(storefront, event) for _ in range(5)))
    response = await sandbox_http.put("/_sandbox/faults/webhook", json={"kind": "503"})
    assert response.status_code == 200, response.text
    worker = message_worker(app, config, sandbox_http)
    await worker.drain()
    rows = await send_rows(sessionmaker)
    assert {r.status for r in rows} == {"retrying"}
    assert {r.error for r in rows} == {
        'HTTP 503: {"error":{"message":"sandbox fault 503","code":503}}'
    }

    await sandbox_http.delete("/_sandbox/faults/webhook")
    await make_all_due(sessionmaker)
    await worker.drain()
    await worker.close()
    rows = await send_rows(sessionmaker)
    assert {(r.status, r.error) for r in rows} == {("sent", None)}
    delivered = [r for r in SANDBOX.recorded("webhook") if r.response_status == 200]
    keys = [r.headers["idempotency-key"] for r in delivered]
    assert sorted(keys) == sorted(r.idempotency_key for r in rows)  # each once, none lost
    assert len(SANDBOX.recorded("webhook")) == 10  # five refused, five delivered
    assert [d.attempt_count for d in await message_deliveries(sessionmaker)] == [2] * 5
