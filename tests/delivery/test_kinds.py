"""The engine carries any registered kind: a kind that is not the relay (here a campaign
deploy, about a subject that is not an event, sent by a transport that is not HTTP) is
claimed, sent, retried, recorded and settled by the same machinery, and a worker works
only the kinds it is told."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from omnirelay.db import run_transaction
from omnirelay.delivery.claim import ClaimedDelivery
from omnirelay.delivery.kinds import DeliveryKind, Plan, ReadSession, Registry, WorkBatch
from omnirelay.delivery.recording import BatchRecord
from omnirelay.delivery.worker import Worker
from omnirelay.destinations.base import (
    DeliveryOutcome,
    HttpResult,
    Outcome,
    Prepared,
    PreparedRequest,
)
from omnirelay.models import Delivery, DeliveryAttempt, Storefront
from omnirelay.models.base import utcnow
from omnirelay.pipeline import create_worker, dispatcher
from tests.delivery.helpers import add_platform, add_storefront, customer_event, post_events


class MemoryTransport:
    """Sends nowhere: keeps what it was given; busy for the tickets named."""

    def __init__(self, busy: set[str]) -> None:
        self.sent: list[PreparedRequest] = []
        self.busy = busy

    def build(self, request: PreparedRequest, body: bytes | None) -> PreparedRequest:
        return request

    async def send(self, built: PreparedRequest) -> HttpResult:
        self.sent.append(built)
        if built.json_body["ticket"] in self.busy:
            return HttpResult(503, body="busy")
        return HttpResult(200, body='{"id": "c-1"}')


@dataclass(frozen=True)
class Campaign:
    delivery_id: int
    ticket: str | None


class Deploy(DeliveryKind):
    name = "deploy"

    def __init__(self, transport: MemoryTransport) -> None:
        super().__init__(transport)
        self.settled: list[dict[int, str]] = []

    async def plan(self, deliveries: list[ClaimedDelivery], hint: Any, read: ReadSession) -> Plan:
        items = [Campaign(d.id, d.subject_ref) for d in deliveries]
        return Plan([WorkBatch("meta_campaigns", items, ("s3cret-token",))])

    async def prepare(self, batch: WorkBatch) -> Prepared:
        return Prepared(
            [
                PreparedRequest(
                    "POST",
                    "memory://campaigns",
                    [item.delivery_id],
                    json_body={"ticket": item.ticket},
                    secrets=["s3cret-token"],
                )
                for item in batch.items
            ]
        )

    def classify(
        self, batch: WorkBatch, request: PreparedRequest, result: HttpResult
    ) -> list[DeliveryOutcome]:
        [delivery_id] = request.delivery_ids
        if result.status_code == 200:
            created = result.json()["id"]
            return [DeliveryOutcome(delivery_id, Outcome.DELIVERED, result={"id": created})]
        return [DeliveryOutcome(delivery_id, Outcome.RETRY, "platform busy (s3cret-token)")]

    def settle(
        self, session: Session, record: BatchRecord, deliveries: list[Any], context: Any
    ) -> None:
        self.settled.append({d.id: record.state[d.id] for d in deliveries})


async def _deploy_deliveries(sessionmaker: Any, tickets: list[str]) -> None:
    async def add(session: Any) -> None:
        storefront = (await session.execute(select(Storefront.id))).scalar_one()
        now = utcnow()
        await session.execute(
            insert(Delivery),
            [
                {
                    "kind": "deploy",
                    "event_id": None,
                    "subject_ref": ticket,
                    "storefront_id": storefront,
                    "destination_type": "platform",
                    "destination_code": "meta_campaigns",
                    "destination_key": "platform:1",
                    "next_attempt_at": now,
                }
                for ticket in tickets
            ],
        )

    async with sessionmaker() as session, session.begin():
        await add(session)


def _worker(app: Any, kind: DeliveryKind) -> Worker:
    state = app.state
    return Worker(state.settings, state.sessionmaker, state.metrics, Registry([kind]), None)


async def test_a_kind_that_is_not_the_relay_is_sent_recorded_and_settled(
    app: Any, client: Any, sessionmaker: Any
) -> None:
    await add_storefront(client)
    await _deploy_deliveries(sessionmaker, ["ticket-a", "ticket-b"])
    transport = MemoryTransport({"ticket-a"})
    kind = Deploy(transport)
    worker = _worker(app, kind)
    await worker.run_once()
    async with sessionmaker() as session:
        rows = (await session.execute(select(Delivery).order_by(Delivery.id))).scalars().all()
        audit = (await session.execute(select(DeliveryAttempt))).scalars().all()
    by_ticket = {d.subject_ref: d for d in rows}
    assert sorted(r.json_body["ticket"] for r in transport.sent) == ["ticket-a", "ticket-b"]
    assert (by_ticket["ticket-a"].status, by_ticket["ticket-a"].attempt_count) == ("pending", 1)
    assert by_ticket["ticket-a"].last_error == "platform busy (********)"  # scrubbed
    assert (by_ticket["ticket-b"].status, by_ticket["ticket-b"].result) == (
        "delivered",
        {"id": "c-1"},
    )
    assert sorted((a.delivery_id, a.event_id, a.status) for a in audit) == [
        (by_ticket["ticket-a"].id, None, "retry"),
        (by_ticket["ticket-b"].id, None, "delivered"),
    ]
    assert kind.settled == [
        {by_ticket["ticket-a"].id: "pending", by_ticket["ticket-b"].id: "delivered"}
    ]


async def test_a_worker_claims_only_the_kinds_it_works(
    app: Any, client: Any, sessionmaker: Any, sandbox_http: Any
) -> None:
    await add_storefront(client)
    await add_platform(client, "meta")
    await post_events(client, [customer_event(1)])
    await run_transaction(sessionmaker, lambda s: dispatcher().route(s, 10))  # relay rows
    await _deploy_deliveries(sessionmaker, ["ticket-a"])
    deploys = Deploy(MemoryTransport(set()))
    await _worker(app, deploys).drain()
    async with sessionmaker() as session:
        states = dict((await session.execute(select(Delivery.kind, Delivery.status))).all())
    assert states == {"relay": "pending", "deploy": "delivered"}  # the relay row untouched

    relay_only = create_worker(
        app.state.settings,
        sessionmaker,
        app.state.vault,
        app.state.metrics,
        client=sandbox_http,
        only_kinds=["relay"],
    )
    async with sessionmaker() as session, session.begin():
        await session.execute(update(Delivery).values(status="pending", next_attempt_at=utcnow()))
    await relay_only.drain()
    await relay_only.close()
    async with sessionmaker() as session:
        states = dict((await session.execute(select(Delivery.kind, Delivery.status))).all())
    assert states == {"relay": "delivered", "deploy": "pending"}


def test_a_registry_gives_the_kinds_named_and_refuses_an_unknown_one() -> None:
    registry = Registry([Deploy(MemoryTransport(set()))])
    assert list(registry.only(None)) == ["deploy"]
    assert list(registry.only(["deploy", " "])) == ["deploy"]
    with pytest.raises(ValueError, match="unknown kind 'message'; known kinds: deploy"):
        registry.only(["deploy", "message"])


def test_worker_kinds_option_refuses_an_unknown_kind(settings: Any) -> None:
    from omnirelay.cli import app as cli

    result = CliRunner().invoke(
        cli,
        ["worker", "--once", "--kinds", "relay,campaign"],
        env={
            "DATABASE_URL": settings.database_url,
            # the local secrets file goes to the test's own directory, not the working one
            "OMNIRELAY_DATA_DIR": str(settings.omnirelay_data_dir),
            "COLUMNS": "200",
        },
    )
    assert result.exit_code == 2
    assert "unknown kind 'campaign'; known kinds: deploy, message, relay" in result.output
