"""OMS events (batch API and direct INSERT) that carry a user are decided by the worker
against the same rules, into the same audit; behavioural events reach ad platforms only
where a destination names their type."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select

from omnirelay.app import create_app
from omnirelay.config import Settings
from omnirelay.messaging.inbox import InboxEvaluator
from omnirelay.models import Delivery, MarketingEvent, MessageDecision, MessageInbox
from omnirelay.pipeline import create_worker
from tests.conftest import AUTH
from tests.delivery.helpers import add_platform, add_storefront
from tests.factories import envelope, order_event
from tests.messaging.conftest import Clock, SendRecorder, event
from tests.messaging.helpers import ts

CONFIG = Path(__file__).resolve().parents[3] / "config"
NOW = ts("2026-01-15T12:00:00Z")  # the order events' day, outside quiet hours
OPTED_IN_TRAITS = {"email": "c9@example.com", "marketing_opt_in": True}


def _copy_with_thank_you(target: Path) -> Path:
    shutil.copytree(CONFIG, target)
    rules = target / "rules.yaml"
    text = rules.read_text()
    marker = 'name: "purchase_thank_you_email"'
    head, tail = text.split(marker)
    rules.write_text(head + marker + tail.replace("enabled: false", "enabled: true", 1))
    return rules


@pytest.fixture
async def oms_app(settings: Settings, tmp_path: Path) -> AsyncIterator[Any]:
    rules = _copy_with_thank_you(tmp_path / "config")
    application = create_app(settings.model_copy(update={"rules_file": rules}), run_worker=False)
    async with application.router.lifespan_context(application):
        application.state.clock = Clock(NOW)
        yield application


@pytest.fixture
async def oms_client(oms_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=oms_app), base_url="http://omnirelay", auth=AUTH
    ) as http:
        yield http


@pytest.fixture
def oms_worker(oms_app: Any, sandbox_http: httpx.AsyncClient) -> Any:
    state = oms_app.state
    worker = create_worker(
        state.settings, state.sessionmaker, state.vault, state.metrics, client=sandbox_http
    )
    [evaluator] = worker.follow_ups
    assert isinstance(evaluator, InboxEvaluator)
    evaluator.clock = Clock(NOW)
    return worker


async def test_oms_purchases_with_a_user_are_decided_by_the_worker(
    oms_app: Any, oms_client: httpx.AsyncClient, oms_worker: Any, sent: SendRecorder
) -> None:
    client = oms_client
    await client.post("/admin/v1/storefronts", json={"storefront_id": "shop", "name": "Shop"})
    # the profile the OMS events are evaluated with (they carry no traits)
    signup = event(
        "signup_completed",
        user_id="cust-1",
        at="2026-01-10T10:00:00Z",
        traits={"email": "c1@example.com", "marketing_opt_in": True},
    )
    assert (await client.post("/events", json=signup)).status_code == 200
    batch = envelope(
        [
            order_event(1, storefront="shop", user_id="cust-1"),
            order_event(2, storefront="shop"),  # no user: not for the rules
            order_event(3, storefront="shop", user_id="cust-1", event_name="consult_started"),
            order_event(4, storefront="shop", user_id="cust-2"),  # no email: no rule matches
        ]
    )
    accepted = await client.post("/v1/events", json=batch)
    assert accepted.json()["accepted"] == 4
    async with oms_app.state.sessionmaker() as session, session.begin():
        storefront_id = (
            await session.execute(
                select(MarketingEvent.storefront_id).where(MarketingEvent.user_id == "cust-1")
            )
        ).scalar()
        await session.execute(
            insert(MarketingEvent).values(
                event_id="DIRECT-1",
                storefront_code="shop",
                event_type="purchase_completed",
                event_payload='{"order_id": "DIRECT-1", "order_revenue": 12.5}',
                user_id="cust-1",
                event_time=ts("2026-01-15T11:00:00Z"),
            )
        )
    [welcome] = sent.sends

    await oms_worker.drain()

    audit = (await client.get("/audit/cust-1")).json()
    purchases = [d for d in audit["decisions"] if d["event_type"] == "purchase_completed"]
    assert [(d["matched_rule"], d["outcome"], d["reason_code"]) for d in purchases] == [
        ("purchase_thank_you_email", "allow", "sent")
    ] * 2
    assert {d["event_type"] for d in audit["decisions"]} == {
        "signup_completed",
        "purchase_completed",
    }
    other = (await client.get("/audit/cust-2")).json()["decisions"]
    assert [(d["matched_rule"], d["reason_code"]) for d in other] == [(None, "no_rule_matched")]
    thanks = [s for s in sent.sends if s is not welcome]
    assert [s.template_name for s in thanks] == ["THANK_YOU_EMAIL"] * 2
    assert {s.context["properties"]["order_id"] for s in thanks} == {
        "2025020100000001",
        "DIRECT-1",
    }
    assert {s.storefront_id for s in thanks} == {storefront_id}
    assert thanks[0].context["user_traits"]["email"] == "c1@example.com"

    await oms_worker.drain()  # decided once: nothing more
    async with oms_app.state.sessionmaker() as session:
        assert (await session.execute(select(MessageInbox))).first() is None
        decided = (await session.execute(select(MessageDecision.event_id))).scalars().all()
    assert len(decided) == len(set(decided)) == 4
    assert len(sent.sends) == 3


async def test_behavioural_events_reach_a_platform_only_when_it_names_their_type(
    oms_app: Any, oms_client: httpx.AsyncClient, oms_worker: Any, sent: SendRecorder
) -> None:
    client = oms_client
    await add_storefront(client, "shop")
    every_type = (await add_platform(client, "meta", "shop"))["id"]
    named = (await add_platform(client, "tiktok", "shop", event_types=["signup_completed"]))["id"]
    assert (await client.post("/events", json=event("signup_completed"))).status_code == 200
    assert (await client.post("/events", json=event("page_viewed"))).status_code == 200
    await client.post("/v1/events", json=envelope([order_event(1, storefront="shop")]))

    await oms_worker.drain()

    async with oms_app.state.sessionmaker() as session:
        rows = (
            await session.execute(
                select(MarketingEvent.event_type, Delivery.credential_id)
                .join(Delivery, Delivery.event_id == MarketingEvent.id)
                .where(Delivery.kind == "relay")
            )
        ).all()
        statuses = dict(
            (await session.execute(select(MarketingEvent.event_type, MarketingEvent.status))).all()
        )
    # meta takes every OMS type but no behavioural one; tiktok names signup_completed only
    assert sorted(rows) == sorted([("signup_completed", named), ("purchase_completed", every_type)])
    assert statuses["page_viewed"] == "skipped"


async def test_one_oms_event_feeds_the_relay_and_the_rules_in_one_routing_pass(
    oms_app: Any, oms_client: httpx.AsyncClient, oms_worker: Any, sent: SendRecorder
) -> None:
    """The routing dispatcher: each domain contributes its rows for the stored event, so
    the same order is relayed to Meta and decided by the rules, neither taking it from the
    other."""
    client = oms_client
    await add_storefront(client, "shop")
    credential = (await add_platform(client, "meta", "shop"))["id"]
    signup = event("signup_completed", user_id="cust-9", traits=OPTED_IN_TRAITS)
    assert (await client.post("/events", json=signup)).status_code == 200
    recent = (datetime.now(UTC) - timedelta(hours=1)).isoformat()  # Meta takes 7 days back
    order = order_event(9, storefront="shop", user_id="cust-9", event_time=recent)
    assert (await client.post("/v1/events", json=envelope([order]))).json()["accepted"] == 1

    await oms_worker.drain()

    async with oms_app.state.sessionmaker() as session:
        stored = (
            await session.execute(
                select(MarketingEvent).where(MarketingEvent.event_id == order["order_id"])
            )
        ).scalar_one()
        relayed = (
            (await session.execute(select(Delivery).where(Delivery.event_id == stored.id)))
            .scalars()
            .all()
        )
        decision = (
            await session.execute(
                select(MessageDecision).where(MessageDecision.event_id == stored.id)
            )
        ).scalar_one()
    assert [(d.kind, d.credential_id, d.status) for d in relayed] == [
        ("relay", credential, "delivered")
    ]
    assert (decision.rule, decision.reason_code) == ("purchase_thank_you_email", "sent")
    assert stored.status == "delivered"
    assert [s.template_name for s in sent.sends if s.event_id == stored.id] == ["THANK_YOU_EMAIL"]
