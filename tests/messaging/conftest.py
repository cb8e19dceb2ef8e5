"""Fixtures of the messaging API tests: the sends enqueued (recorded, not sent), a fixed
clock, a storefront to post for."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import httpx
import pytest

from omnirelay.messaging import repository, sending
from omnirelay.messaging.sending import NewSend
from tests.factories import create_storefronts
from tests.messaging.helpers import ts

# Noon UTC: outside the shipped rules' quiet hours (21:00-08:00 in the user's zone, UTC by
# default), so a send is sent, not held, unless a test moves the clock; later than the
# events the tests post.
NOON = ts("2024-06-01T12:00:00Z")


class SendRecorder:
    """Stands in for ``sending.enqueue_send``: what the decision path enqueued, in order,
    with the session it was handed (the transaction that records the decision)."""

    def __init__(self) -> None:
        self.sends: list[NewSend] = []

    def __call__(self, session: Any, send: NewSend) -> None:
        assert session.in_transaction(), "a send is enqueued inside the decision's transaction"
        self.sends.append(send)

    def of(self, user_id: str) -> list[NewSend]:
        return [send for send in self.sends if send.user_id == user_id]


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> SendRecorder:
    recorder = SendRecorder()

    def decision_then_send(session: Any, decision: dict[str, Any], send: NewSend) -> int:
        # what PostgreSQL writes in one statement, recorded as enqueue_send's is
        decision_id = repository.insert_decision(session, decision)
        recorder(session, replace(send, decision_id=decision_id))
        return decision_id

    monkeypatch.setattr(sending, "enqueue_send", recorder)
    monkeypatch.setattr(sending, "insert_decision_with_send", decision_then_send)
    return recorder


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(app: Any) -> Clock:
    fixed = Clock(NOON)
    app.state.clock = fixed
    return fixed


@pytest.fixture
async def storefront(client: httpx.AsyncClient) -> int:
    return (await create_storefronts(client, "shop"))["shop"]


def event(
    event_type: str = "payment_failed",
    *,
    user_id: str = "user_12345",
    at: str = "2024-01-15T10:30:00Z",
    properties: dict[str, Any] | None = None,
    traits: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "user_id": user_id,
        "event_type": event_type,
        "event_timestamp": at,
        "properties": properties if properties is not None else {},
        "storefront_id": "shop",
        **extra,
    }
    if traits is not None:
        body["user_traits"] = traits
    return body
