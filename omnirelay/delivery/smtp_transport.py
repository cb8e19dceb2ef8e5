"""A transport that sends each request's body, an RFC 5322 message, by SMTP.

The request's URL says where (``smtp://host:port``, or ``smtps://`` for TLS from the first
byte); its body is the message as sent, and its ``From`` and ``To`` headers are the
envelope. How to log in and whether to upgrade with STARTTLS is the transport's own
configuration, so no credential is in a request or in what is recorded of it.

The answer's ``status_code`` is the server's reply code: 250 when the message was
accepted, the 4xx or 5xx the server refused it with (4xx: try again later; 5xx: it will
not be accepted), none when no server answered (network, timeout, TLS).
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import SMTP as SMTP_POLICY
from email.utils import getaddresses
from typing import cast
from urllib.parse import urlsplit

import aiosmtplib

from omnirelay.destinations.base import HttpResult, PreparedRequest


@dataclass(frozen=True)
class SmtpLogin:
    starttls: bool = True  # STARTTLS required (False: never)
    username: str | None = None
    password: str | None = None
    timeout: float = 15.0
    validate_certs: bool = True


@dataclass(frozen=True)
class SmtpMessage:
    host: str
    port: int
    use_tls: bool
    message: bytes
    sender: str
    recipients: list[str]


class SmtpTransport:
    def __init__(self, login: SmtpLogin) -> None:
        self.login = login

    def build(self, request: PreparedRequest, body: bytes | None) -> SmtpMessage:
        parts = urlsplit(request.url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("an SMTP target is smtp://host:port or smtps://host:port")
        if not body:
            raise ValueError("an SMTP request's body is the message")
        headers = cast(EmailMessage, BytesParser(policy=SMTP_POLICY).parsebytes(body, True))
        senders = [address for _, address in getaddresses([str(headers.get("From", ""))])]
        recipients = [
            address
            for _, address in getaddresses([str(v) for v in headers.get_all("To", [])])
            if address
        ]
        if len(senders) != 1 or not senders[0] or not recipients:
            raise ValueError("a message needs one From address and a To address")
        port = parts.port or (465 if parts.scheme == "smtps" else 587)
        return SmtpMessage(
            parts.hostname, port, parts.scheme == "smtps", body, senders[0], recipients
        )

    async def send(self, built: SmtpMessage) -> HttpResult:
        login = self.login
        try:
            _, reply = await aiosmtplib.send(
                built.message,
                sender=built.sender,
                recipients=built.recipients,
                hostname=built.host,
                port=built.port,
                use_tls=built.use_tls,
                start_tls=False if built.use_tls else login.starttls,
                username=login.username,
                password=login.password,
                timeout=login.timeout,
                validate_certs=login.validate_certs,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients[0] if exc.recipients else None
            code = refused.code if refused is not None else 550
            return HttpResult(code, body=refused.message if refused else "", error=_error(exc))
        except aiosmtplib.SMTPResponseException as exc:  # the server refused (auth, data ...)
            return HttpResult(exc.code, body=exc.message, error=_error(exc))
        except (aiosmtplib.SMTPException, OSError) as exc:  # no answer: network, TLS, timeout
            return HttpResult(None, error=_error(exc))
        except Exception as exc:
            return HttpResult(None, error=_error(exc))
        return HttpResult(250, body=reply)


def _error(exc: BaseException) -> str:
    return f"smtp: {type(exc).__name__}: {exc}"
