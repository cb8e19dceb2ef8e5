"""OMS events and the messaging rules: routing queues each stored OMS event that carries a
user and has a type some rule is triggered by; the worker then decides each one as the API
decides a behavioural event, and its decision joins the same audit.

Queuing is part of the routing transaction (a row in ``message_inbox``), so an event is
never routed without being queued. Deciding happens after, one event per transaction,
because a decision enqueues its send through the async sending API; the transaction that
decides an event removes it from the inbox, so a crash leaves it queued and two workers
never decide it twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from omnirelay.db import is_row_error, run_transaction, session_scope
from omnirelay.delivery.claim import Lease
from omnirelay.delivery.dispatch import Contribution, RoutedEvent
from omnirelay.messaging import repository
from omnirelay.messaging.holder import RulesHolder
from omnirelay.messaging.rules import MessagingEvent, RuleSet
from omnirelay.messaging.service import StoredEvent, decide
from omnirelay.models import (
    BEHAVIOURAL_SOURCE,
    MarketingEvent,
    MessageDecision,
    MessageInbox,
    table_of,
)
from omnirelay.models.base import utcnow

log = logging.getLogger("omnirelay.messaging")
INBOX = table_of(MessageInbox)
QUEUED_NOTE = "queued for the messaging rules"


class MessagingRouting:
    """The messaging rules' contributor to routing (see ``omnirelay.delivery.dispatch``)."""

    kind = "messaging"

    def __init__(self, rules: RulesHolder) -> None:
        self.rules = rules
        self._types: tuple[RuleSet | None, frozenset[str]] = (None, frozenset())

    def triggering_types(self) -> frozenset[str]:
        """The event types an enabled rule of the current rules is triggered by (an event
        that only disabled rules name would be decided "no rule matched": not worth it)."""
        rules = self.rules.current
        seen, types = self._types
        if seen is not rules:
            types = frozenset(
                event_type
                for compiled in rules.compiled
                if compiled.rule.enabled
                for event_type in compiled.rule.trigger.event_type
            )
            self._types = (rules, types)
        return types

    def contribute(
        self, session: Session, events: list[RoutedEvent], now: datetime, lease: Lease | None
    ) -> Contribution:
        part = Contribution()
        types = self.triggering_types()
        if not types:
            return part
        # Behavioural events were decided when they were posted.
        wanted = [
            item.event.id
            for item in events
            if item.event.user_id
            and item.event.source_system != BEHAVIOURAL_SOURCE
            and item.event.event_type in types
        ]
        if wanted:
            _queue(session, [{"event_id": event_id, "queued_at": now} for event_id in wanted])
            part.notes = dict.fromkeys(wanted, QUEUED_NOTE)
        return part


def _queue(session: Session, rows: list[dict[str, Any]]) -> None:
    # An event routed again (set back to pending by hand) is queued once.
    dialect = session.get_bind().dialect.name
    statement: Any
    if dialect in ("mysql", "mariadb"):
        statement = mysql.insert(INBOX).prefix_with("IGNORE")
    elif dialect == "postgresql":
        statement = postgresql.insert(INBOX).on_conflict_do_nothing()
    else:
        statement = sqlite.insert(INBOX).on_conflict_do_nothing()
    session.execute(statement, rows)


def oms_event(row: Any) -> MessagingEvent | None:
    """The event the rules see of a stored OMS item: its fields are the ``properties``
    (``properties.order_revenue``), or its ``properties`` object when it has one; its
    ``user_traits`` object, when it has one."""
    try:
        payload = orjson.loads(row.event_payload)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(payload, dict) or not row.user_id:
        return None
    properties = payload.get("properties")
    traits = payload.get("user_traits")
    return MessagingEvent(
        user_id=row.user_id,
        event_type=row.event_type,
        event_timestamp=row.event_time or row.received_at,
        properties=properties if isinstance(properties, dict) else payload,
        user_traits=traits if isinstance(traits, dict) else {},
    )


_COLUMNS = (
    MarketingEvent.id,
    MarketingEvent.storefront_id,
    MarketingEvent.user_id,
    MarketingEvent.event_type,
    MarketingEvent.event_time,
    MarketingEvent.received_at,
    MarketingEvent.event_payload,
)


class InboxEvaluator:
    """The worker's follow-up to routing: decide the queued OMS events. One lane at a time
    works the inbox (the others would only wait on the same rows)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        rules: RulesHolder,
        batch_size: int,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.rules = rules
        self.batch_size = batch_size
        self.clock = clock
        self._working = asyncio.Lock()

    async def __call__(self) -> int:
        """Decide up to a batch of queued events; how many were decided."""
        if self._working.locked():
            return 0
        async with self._working:
            async with session_scope(self.sessionmaker, read_only=True) as session:
                ids = list(
                    (
                        await session.execute(
                            select(MessageInbox.event_id)
                            .order_by(MessageInbox.event_id)
                            .limit(self.batch_size)
                        )
                    ).scalars()
                )
            decided = 0
            for event_id in ids:
                try:
                    decided += await self._decide_one(event_id)
                except Exception as exc:
                    if not is_row_error(exc):
                        raise
                    log.warning("event %s could not be decided: %s", event_id, type(exc).__name__)
                    await self._record_failure(event_id, type(exc).__name__)
            return decided

    async def _decide_one(self, event_id: int) -> int:
        rules, now = self.rules.current, self.clock()

        def work(session: Session) -> int:
            if not repository.take_from_inbox(session, event_id):
                return 0  # another worker has it
            row = session.execute(select(*_COLUMNS).where(MarketingEvent.id == event_id)).first()
            event = oms_event(row) if row is not None else None
            if row is None or event is None or row.storefront_id is None:
                return 0
            stored = StoredEvent(id=event_id, storefront_id=row.storefront_id, event=event)
            decide(session, rules, stored, now=now)
            return 1

        return await run_transaction(self.sessionmaker, work)

    async def _record_failure(self, event_id: int, error: str) -> None:
        """An event that cannot be decided leaves the inbox with a decision that says so,
        so the audit shows it instead of a gap."""
        version, now = self.rules.current.version, self.clock()

        def work(session: Session) -> None:
            if not repository.take_from_inbox(session, event_id):
                return
            row = session.execute(select(*_COLUMNS).where(MarketingEvent.id == event_id)).first()
            if row is None or row.storefront_id is None or not row.user_id:
                return
            session.add(
                MessageDecision(
                    event_id=event_id,
                    storefront_id=row.storefront_id,
                    user_id=row.user_id,
                    event_type=row.event_type,
                    event_timestamp=row.event_time or row.received_at,
                    outcome="none",
                    reason_code="evaluation_error",
                    reason=f"the event could not be evaluated ({error}); nothing was sent",
                    rules_version=version,
                    decided_at=now,
                )
            )

        await run_transaction(self.sessionmaker, work)
