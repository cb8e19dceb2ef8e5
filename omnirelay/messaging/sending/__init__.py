"""Message sends: a decision to send becomes a durable send row and a delivery of kind
``message``, worked by the delivery engine like every other kind.

``enqueue_send`` is what the decision path calls, in the transaction that records the
decision and its suppression claim; the provider is called later, by a worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class NewSend:
    """What a send needs, fixed when it is decided."""

    decision_id: int  # message_decisions.id
    event_id: int  # marketing_events.id of the triggering event
    storefront_id: int
    user_id: str
    rule_name: str
    template_name: str
    channel: str  # email | sms | push | alert
    # what the template renders with: {"event": {...}, "properties": {...},
    # "user_traits": {...}} (traits merged with the stored profile)
    context: dict[str, Any] = field(default_factory=dict)
    not_before: datetime | None = None  # quiet hours: not sent before this (UTC)


async def enqueue_send(session: AsyncSession, send: NewSend) -> None:
    """Add the send row and its delivery to ``session`` (flushes, never commits)."""
    raise NotImplementedError("message sending is being built")
