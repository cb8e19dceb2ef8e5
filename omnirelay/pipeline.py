"""The worker as this product puts it together: which domains route stored events, which
kinds of delivery there are, and how each kind's requests leave (HTTP for every kind
today). The delivery engine and worker know none of them; they are handed these."""

from __future__ import annotations

from collections.abc import Iterable

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnirelay.config import Settings
from omnirelay.delivery.dispatch import Contributor, Dispatcher
from omnirelay.delivery.kinds import Registry
from omnirelay.delivery.transports import HttpTransport
from omnirelay.delivery.worker import Worker
from omnirelay.messaging.holder import RulesHolder, rules_holder
from omnirelay.messaging.inbox import InboxEvaluator, MessagingRouting
from omnirelay.metrics import Metrics
from omnirelay.netguard import GuardedTransport, OutboundGuard
from omnirelay.relay.kind import RelayKind
from omnirelay.relay.preparing import Preparer
from omnirelay.relay.routing import RelayRouting
from omnirelay.security import Vault


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


def kinds(settings: Settings, vault: Vault, client: httpx.AsyncClient) -> Registry:
    transport = HttpTransport(client)
    return Registry([RelayKind(transport, vault, Preparer(settings.worker_prepare_processes))])


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
