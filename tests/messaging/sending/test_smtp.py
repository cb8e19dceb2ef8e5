"""Email through a real SMTP server started by the test: login, STARTTLS, the Message-ID
made of the idempotency key, refusals for now and for good, a server that is down and
comes back (nothing lost, nothing sent twice), and no credential in anything recorded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from omnirelay.models import DeliveryRequest
from omnirelay.relay.events_schemas import ReplayRequest
from omnirelay.relay.events_service import replay_deliveries
from tests.delivery.helpers import make_all_due
from tests.messaging.sending.helpers import (
    SMTP_PASSWORD,
    assert_secret_nowhere,
    enqueue,
    message_worker,
    messaging_settings,
    new_send,
    send_rows,
    stored_event,
)
from tests.messaging.sending.smtp_server import USERNAME, Mailbox, SmtpServer, self_signed_context

# the plain-text path logs in without TLS on purpose (a relay on a private network)
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox(password=SMTP_PASSWORD)


@pytest.fixture(params=["plain", "starttls"])
def smtp(request: pytest.FixtureRequest, mailbox: Mailbox, tmp_path: Path) -> Iterator[SmtpServer]:
    tls = self_signed_context(tmp_path) if request.param == "starttls" else None
    server = SmtpServer(mailbox, tls)
    server.start()
    yield server
    server.stop()


def _smtp_settings(settings: Any, tmp_path: Path, server: SmtpServer, **extra: Any) -> Any:
    values = {
        "messaging_channels": "email=smtp",
        "smtp_host": "127.0.0.1",
        "smtp_port": server.port,
        "smtp_starttls": server.tls is not None,
        "smtp_validate_certs": False,  # the test's self-signed certificate
        "smtp_username": USERNAME,
        "smtp_password": SecretStr(SMTP_PASSWORD),
        "smtp_from": "Shop <news@shop.example.com>",
    }
    return messaging_settings(settings, tmp_path, **(values | extra))


async def test_an_email_is_sent_by_smtp_with_its_key_as_message_id(
    app: Any, settings: Any, sessionmaker: Any, tmp_path: Path, smtp: SmtpServer, mailbox: Mailbox
) -> None:
    config = _smtp_settings(settings, tmp_path, smtp)
    storefront, event = await stored_event(sessionmaker)
    traits = {"email": "jane@example.com", "first_name": "Jane <b>"}
    await enqueue(
        sessionmaker,
        new_send(storefront, event),
        new_send(storefront, event, template="WELCOME_EMAIL", context={"user_traits": traits}),
    )
    worker = message_worker(app, config)
    await worker.drain()
    await worker.close()

    funds, welcome = await send_rows(sessionmaker)
    assert [(r.status, r.provider) for r in (funds, welcome)] == [("sent", "smtp")] * 2
    assert mailbox.logins == [USERNAME, USERNAME]
    by_id = {str(m["Message-ID"]): m for m in mailbox.received}
    first = by_id[f"<{funds.idempotency_key}@shop.example.com>"]
    second = by_id[f"<{welcome.idempotency_key}@shop.example.com>"]
    assert sorted(mailbox.envelopes) == [
        ("news@shop.example.com", ["jane@example.com"]),
        ("news@shop.example.com", ["john.doe@example.com"]),
    ]
    assert first["Subject"] == "Your payment of 29.99 USD did not go through"
    assert first.get_content_type() == "text/plain"
    assert "insufficient funds" in first.get_payload(decode=True).decode()
    assert second.get_content_type() == "multipart/alternative"
    text, html = second.get_payload()
    assert text.get_content_type() == "text/plain"
    assert "Hello Jane &lt;b&gt;," in html.get_payload(decode=True).decode()

    async with sessionmaker() as session:
        requests = list((await session.execute(select(DeliveryRequest))).scalars())
    assert {(r.method, r.url, r.http_status) for r in requests} == {
        ("SMTP", f"smtp://127.0.0.1:{smtp.port}", 250)
    }


async def test_refusals_for_now_are_retried_and_for_good_are_dead(
    app: Any, settings: Any, sessionmaker: Any, tmp_path: Path, smtp: SmtpServer, mailbox: Mailbox
) -> None:
    config = _smtp_settings(settings, tmp_path, smtp)
    storefront, event = await stored_event(sessionmaker)
    await enqueue(sessionmaker, new_send(storefront, event))
    mailbox.refuse_data = "451 4.3.0 Try again later"
    worker = message_worker(app, config)
    await worker.drain()
    [row] = await send_rows(sessionmaker)
    assert (row.status, row.error) == ("retrying", "SMTP 451: 4.3.0 Try again later")

    mailbox.refuse_data = None
    mailbox.refuse_rcpt = "550 5.1.1 No such user"
    await make_all_due(sessionmaker)
    await worker.drain()
    await worker.close()
    [row] = await send_rows(sessionmaker)
    assert (row.status, row.error_code, row.error) == (
        "dead",
        "provider_rejected",
        "SMTP 550: 5.1.1 No such user",
    )
    assert mailbox.received == []

    # the address is fixed at the provider: a replay sends the dead message after all
    mailbox.refuse_rcpt = None
    async with sessionmaker() as session, session.begin():
        replayed = await replay_deliveries(session, ReplayRequest(destination="email"))
    assert replayed.replayed == 1
    worker = message_worker(app, config)
    await worker.drain()
    await worker.close()
    [row] = await send_rows(sessionmaker)
    assert (row.status, row.error_code, row.error) == ("sent", None, None)
    assert len(mailbox.received) == 1


async def test_a_server_down_then_back_loses_nothing_and_sends_each_once(
    app: Any,
    settings: Any,
    sessionmaker: Any,
    tmp_path: Path,
    smtp: SmtpServer,
    mailbox: Mailbox,
    all_logs: pytest.LogCaptureFixture,
) -> None:
    config = _smtp_settings(settings, tmp_path, smtp)
    storefront, event = await stored_event(sessionmaker)
    await enqueue(sessionmaker, *(new_send(storefront, event) for _ in range(4)))
    smtp.stop()
    worker = message_worker(app, config)
    await worker.drain()
    rows = await send_rows(sessionmaker)
    assert {r.status for r in rows} == {"retrying"}
    assert all((r.error or "").startswith("smtp: SMTPConnect") for r in rows), rows[0].error

    smtp.start()
    await make_all_due(sessionmaker)
    await worker.drain()
    await worker.close()
    rows = await send_rows(sessionmaker)
    assert {r.status for r in rows} == {"sent"}
    ids = sorted(str(m["Message-ID"]) for m in mailbox.received)
    assert ids == sorted(f"<{r.idempotency_key}@shop.example.com>" for r in rows)

    # the password is in nothing recorded and in no log line
    wrong = _smtp_settings(
        settings, tmp_path, smtp, smtp_password=SecretStr("wrong-" + SMTP_PASSWORD)
    )
    await enqueue(sessionmaker, new_send(storefront, event))
    failing = message_worker(app, wrong)
    await failing.drain()
    await failing.close()
    last = (await send_rows(sessionmaker))[-1]
    assert (last.status, last.error_code) == ("dead", "provider_rejected")
    assert (last.error or "").startswith("SMTP 535")
    await assert_secret_nowhere(sessionmaker, all_logs, SMTP_PASSWORD)
