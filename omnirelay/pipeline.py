"""The worker as this product puts it together: which domains route stored events, which
kinds of delivery there are, and how each kind's requests leave (HTTP for the relay; a
file, SMTP or HTTP for messages). The delivery engine and worker know none of them; they
are handed these."""

from __future__ import annotations

from collections.abc import Iterable

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnirelay.config import Settings
from omnirelay.delivery.dispatch import Contributor, Dispatcher
from omnirelay.delivery.file_transport import JsonLinesFileTransport
from omnirelay.delivery.kinds import Registry
from omnirelay.delivery.smtp_transport import SmtpLogin, SmtpTransport
from omnirelay.delivery.transports import HttpTransport, TransportsByScheme
from omnirelay.delivery.worker import Worker
from omnirelay.messaging.holder import RulesHolder, rules_holder
from omnirelay.messaging.inbox import InboxEvaluator, MessagingRouting
from omnirelay.messaging.sending.kind import MessageKind
from omnirelay.messaging.sending.providers import ProviderSettings
from omnirelay.messaging.sending.templates import TemplateRenderer
from omnirelay.metrics import Metrics
from omnirelay.netguard import GuardedTransport, OutboundGuard
from omnirelay.relay.kind import RelayKind
from omnirelay.relay.preparing import Preparer
from omnirelay.relay.routing import RelayRouting
from omnirelay.security import Vault
from omnirelay.trafficking.deploy.kind import DeployKind


def dispatcher(rules: RulesHolder | None = None) -> Dispatcher:
    """Every domain's part of routing a stored event (the messaging rules' when ``rules``
    are given)."""
    contributors: list[Contributor] = [RelayRouting()]
    if rules is not None:
        contributors.append(MessagingRouting(rules))
    return Dispatcher(contributors)


def http_client(settings: Settings) -> httpx.AsyncClient:
    """The worker's outbound client: it connects only to addresses the guard has checked
    after resolving them (``OUTBOUND_ALLOW`` names what else it may reach)."""
    limits = httpx.Limits(
        max_connections=settings.worker_concurrency * 2,
        max_keepalive_connections=settings.worker_concurrency * 2,
    )
    return httpx.AsyncClient(
        timeout=settings.delivery_timeout_seconds,
        transport=GuardedTransport(OutboundGuard(settings.outbound_allow), limits=limits),
        headers={"user-agent": "omnirelay/0.1"},
    )


def message_transport(settings: Settings, http: HttpTransport) -> TransportsByScheme:
    """How messages leave: a local file, SMTP, or HTTP through the guarded client."""
    password = settings.smtp_password
    smtp = SmtpTransport(
        SmtpLogin(
            starttls=settings.smtp_starttls,
            username=settings.smtp_username or None,
            password=password.get_secret_value() if password else None,
            timeout=settings.delivery_timeout_seconds,
            validate_certs=settings.smtp_validate_certs,
        )
    )
    return TransportsByScheme(
        {
            "file": JsonLinesFileTransport(),
            "smtp": smtp,
            "smtps": smtp,
            "http": http,
            "https": http,
        }
    )


def kinds(settings: Settings, vault: Vault, client: httpx.AsyncClient) -> Registry:
    transport = HttpTransport(client)
    return Registry(
        [
            RelayKind(transport, vault, Preparer(settings.worker_prepare_processes)),
            MessageKind(
                message_transport(settings, transport),
                ProviderSettings.from_settings(settings),
                TemplateRenderer(settings.templates_dir),
            ),
            DeployKind(transport, vault),
        ]
    )


def create_worker(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    vault: Vault,
    metrics: Metrics,
    *,
    client: httpx.AsyncClient | None = None,
    only_kinds: Iterable[str] | None = None,
) -> Worker:
    """A worker for every kind, or ``only_kinds`` (``omnirelay worker --kinds``; an
    unknown name is a ``ValueError`` naming the known ones). Without a ``client`` the
    worker opens its own and closes it when it stops."""
    own = client is None
    http = client or http_client(settings)
    registry = kinds(settings, vault, http).only(only_kinds)
    rules = rules_holder(settings)
    return Worker(
        settings,
        sessionmaker,
        metrics,
        registry,
        dispatcher(rules),
        follow_ups=[InboxEvaluator(sessionmaker, rules, settings.messaging_batch_size)],
        on_close=http.aclose if own else None,
    )
