"""The providers a message leaves by, and what each makes of a message: the request
(pure) and the outcome of its answer.

* ``file`` (the default, as in the seed): one JSON line per message appended to
  ``messages.txt`` (``MESSAGING_FILE_PATH``); a line already written with the message's
  idempotency key is not written again.
* ``webhook``: the same JSON document POSTed to ``MESSAGING_WEBHOOK_URL`` (an ESP's API, a
  Slack workflow), with an ``Idempotency-Key`` header and, given
  ``MESSAGING_WEBHOOK_SECRET``, an ``X-Omnirelay-Signature`` HMAC-SHA256 over the timestamp
  and the body (``omnirelay.destinations.webhook.verify_signature`` checks it).
* ``smtp``: an email (text, and HTML as an alternative when the template has it) to
  ``SMTP_HOST``:``SMTP_PORT``; its ``Message-ID`` is made of the idempotency key.

The webhook and file document::

    {"idempotency_key": "...", "send_id": 1, "decision_id": 7, "event_id": 3,
     "storefront_id": 1, "user_id": "user_12345", "rule": "insufficient_funds_email",
     "template": "INSUFFICIENT_FUNDS_EMAIL", "channel": "email",
     "recipient": "john.doe@example.com", "subject": "...", "body": "...", "html": null,
     "decided_at": "2024-01-15T10:30:01+00:00"}
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from omnirelay.config import Settings
from omnirelay.delivery.file_transport import file_url
from omnirelay.destinations.base import (
    DeliveryOutcome,
    HttpResult,
    Outcome,
    PreparedRequest,
    all_outcomes,
    classify_by_status,
)
from omnirelay.destinations.webhook import SIGNATURE_HEADER, sign

IDEMPOTENCY_HEADER = "Idempotency-Key"
USER_AGENT = "omnirelay-messaging/1"


@dataclass(frozen=True)
class ProviderSettings:
    channels: dict[str, str]  # channel -> provider
    file_path: Path
    webhook_url: str
    webhook_secret: str | None
    smtp_host: str
    smtp_port: int
    smtp_tls: bool
    smtp_from: str
    smtp_password: str | None
    alert_recipient: str

    @classmethod
    def from_settings(cls, settings: Settings) -> ProviderSettings:
        secret = settings.messaging_webhook_secret
        password = settings.smtp_password
        return cls(
            channels=settings.channel_providers,
            file_path=settings.messages_file,
            webhook_url=settings.messaging_webhook_url.strip(),
            webhook_secret=(secret.get_secret_value() or None) if secret else None,
            smtp_host=settings.smtp_host,
            smtp_port=settings.smtp_port,
            smtp_tls=settings.smtp_tls,
            smtp_from=settings.smtp_from,
            smtp_password=(password.get_secret_value() or None) if password else None,
            alert_recipient=settings.messaging_alert_recipient,
        )

    def secrets(self, provider: str) -> tuple[str, ...]:
        """What to scrub from everything recorded about the provider's requests."""
        if provider == "webhook" and self.webhook_secret:
            return (self.webhook_secret,)
        if provider == "smtp" and self.smtp_password:
            return (self.smtp_password,)
        return ()

    @property
    def smtp_url(self) -> str:
        return f"{'smtps' if self.smtp_tls else 'smtp'}://{self.smtp_host}:{self.smtp_port}"


@dataclass(frozen=True)
class OutboundMessage:
    """One message as its provider gets it: rendered, addressed, keyed."""

    delivery_id: int
    send_id: int
    decision_id: int
    event_id: int | None
    storefront_id: int
    user_id: str
    rule_name: str
    template_name: str
    channel: str
    recipient: str
    idempotency_key: str
    subject: str | None
    text: str | None  # None: an HTML-only email
    html: str | None
    decided_at: datetime

    @property
    def body(self) -> str:
        return self.text if self.text is not None else self.html or ""


def document(message: OutboundMessage) -> dict[str, Any]:
    return {
        "idempotency_key": message.idempotency_key,
        "send_id": message.send_id,
        "decision_id": message.decision_id,
        "event_id": message.event_id,
        "storefront_id": message.storefront_id,
        "user_id": message.user_id,
        "rule": message.rule_name,
        "template": message.template_name,
        "channel": message.channel,
        "recipient": message.recipient,
        "subject": message.subject,
        "body": message.body,
        "html": message.html,
        "decided_at": message.decided_at.astimezone(UTC).isoformat(),
    }


def check_recipient(channel: str, recipient: str, provider: str) -> str | None:
    """Why ``recipient`` cannot be sent to (None: it can)."""
    if channel == "email" or provider == "smtp":
        try:
            address = Address(addr_spec=recipient)
        except (ValueError, IndexError, TypeError) as exc:
            return f"{recipient!r} is not an email address ({exc})"
        if not address.domain or not address.username:
            return f"{recipient!r} is not an email address"
    return None


class Requests:
    """The request of each provider for a message."""

    def __init__(self, providers: ProviderSettings, clock: Callable[[], float] = time.time) -> None:
        self.providers = providers
        self._clock = clock

    def request(self, provider: str, message: OutboundMessage) -> PreparedRequest:
        if provider == "file":
            return self.file(message)
        if provider == "webhook":
            return self.webhook(message)
        if provider == "smtp":
            return self.smtp(message)
        raise ValueError(f"unknown provider {provider!r}")

    def file(self, message: OutboundMessage) -> PreparedRequest:
        return PreparedRequest(
            "APPEND",
            file_url(self.providers.file_path),
            [message.delivery_id],
            json_body=document(message),
            headers={IDEMPOTENCY_HEADER: message.idempotency_key},
        )

    def webhook(self, message: OutboundMessage) -> PreparedRequest:
        secret = self.providers.webhook_secret
        request = PreparedRequest(
            "POST",
            self.providers.webhook_url,
            [message.delivery_id],
            json_body=document(message),
            headers={
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                IDEMPOTENCY_HEADER: message.idempotency_key,
            },
            secrets=[secret] if secret else [],
        )
        if secret:
            request.serialized()  # the exact bytes signed are the bytes sent
            request.headers[SIGNATURE_HEADER] = sign(
                secret, request.body_bytes(), int(self._clock())
            )
        return request

    def smtp(self, message: OutboundMessage) -> PreparedRequest:
        sender = self.providers.smtp_from
        email = EmailMessage(policy=SMTP_POLICY)
        email["From"] = sender
        email["To"] = message.recipient
        email["Subject"] = message.subject or ""
        email["Date"] = format_datetime(datetime.now(UTC))
        email["Message-ID"] = f"<{message.idempotency_key}@{_domain_of(sender)}>"
        if message.text is not None:
            email.set_content(message.text)
            if message.html is not None:
                email.add_alternative(message.html, subtype="html")
        else:
            email.set_content(message.html or "", subtype="html")
        return PreparedRequest(
            "SMTP",
            self.providers.smtp_url,
            [message.delivery_id],
            body=email.as_bytes(),
            secrets=list(self.providers.secrets("smtp")),
        )


def classify(provider: str, request: PreparedRequest, result: HttpResult) -> list[DeliveryOutcome]:
    """Each provider's answer as an outcome: a file is written unless it errs; a webhook
    by HTTP status; SMTP by reply code (2xx accepted, 4xx later, 5xx never)."""
    if provider == "file":
        if result.error is None:
            return all_outcomes(request, Outcome.DELIVERED)
        return all_outcomes(request, Outcome.RETRY, result.error)
    if provider == "smtp":
        code = result.status_code
        if code is None:
            return all_outcomes(request, Outcome.RETRY, result.error or "no answer from the server")
        if 200 <= code < 300:
            return all_outcomes(request, Outcome.DELIVERED)
        detail = f"SMTP {code}: {result.body[:300]}".rstrip(": ")
        outcome = Outcome.RETRY if 400 <= code < 500 else Outcome.PERMANENT
        return all_outcomes(request, outcome, detail)
    by_status = classify_by_status(request, result)
    return by_status if by_status is not None else all_outcomes(request, Outcome.DELIVERED)


def _domain_of(address: str) -> str:
    domain = address.rpartition("@")[2].strip(" >")
    return domain or "omnirelay.localdomain"
