"""No single event, request, credential or destination stops work on the others."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
from cryptography.fernet import Fernet
from sqlalchemy import select, update
from typer.testing import CliRunner

from omnirelay import config
from omnirelay.cli import app as cli
from omnirelay.destinations import get_destination
from omnirelay.models import DeliveryRequest, MarketingEvent, PlatformCredential
from omnirelay.pipeline import create_worker
from omnirelay.relay.kind import RelayKind
from omnirelay.relay.routing import RelayRouting
from omnirelay.sandbox.core import SANDBOX, FaultConfig
from omnirelay.security import Vault
from tests.delivery.helpers import (
    add_platform,
    add_storefront,
    attempts,
    customer_event,
    deliveries,
    events,
    make_all_due,
    post_events,
)


def _by_code(rows: list[Any]) -> dict[str, set[tuple[str, int]]]:
    out: dict[str, set[tuple[str, int]]] = {}
    for d in rows:
        out.setdefault(d.destination_code, set()).add((d.status, d.attempt_count))
    return out


async def test_a_destination_whose_prepare_raises_does_not_lose_what_was_sent(
    client, sessionmaker, worker, monkeypatch
) -> None:
    await add_storefront(client)
    await add_platform(client, "meta")
    await add_platform(client, "tiktok")
    tiktok = get_destination("tiktok")

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("a bug in the tiktok module")

    monkeypatch.setattr(tiktok, "prepare", broken)
    await post_events(client, [customer_event(n) for n in range(3)])
    await worker.drain()

    rows = _by_code(await deliveries(sessionmaker))
    assert rows["meta"] == {("delivered", 1)}  # sent and recorded, never left in flight
    assert rows["tiktok"] == {("pending", 1)}  # its own failure: retried later
    assert len(SANDBOX.recorded("meta")) == 1
    failed = [a for a in await attempts(sessionmaker) if a.destination_code == "tiktok"]
    assert {a.status for a in failed} == {"retry"}
    assert all("a bug in the tiktok module" in (a.error or "") for a in failed)


async def test_one_event_that_breaks_prepare_is_set_apart_from_its_batch(
    client, sessionmaker, worker, monkeypatch
) -> None:
    await add_storefront(client)
    await add_platform(client, "meta")
    meta = get_destination("meta")
    prepare = meta.prepare

    def fails_on_one(outbound: Any, target: Any) -> Any:
        if any(e.event_id == "ORD00000002" for e in outbound):
            raise ValueError("cannot handle this payload")
        return prepare(outbound, target)

    monkeypatch.setattr(meta, "prepare", fails_on_one)
    await post_events(client, [customer_event(n) for n in range(6)])
    await worker.drain()

    by_event = {e.event_id: e.status for e in await events(sessionmaker)}  # the other five went out
    assert by_event.pop("ORD00000002") == "queued"
    assert set(by_event.values()) == {"delivered"}
    sent = sum(len(r.body["data"]) for r in SANDBOX.recorded("meta"))
    assert sent == 5


async def test_a_request_that_cannot_be_built_is_that_requests_outcome(
    client, sessionmaker, worker, monkeypatch
) -> None:
    await add_storefront(client)
    await add_platform(client, "meta")
    await add_platform(client, "tiktok")
    tiktok = get_destination("tiktok")
    prepare = tiktok.prepare

    def non_ascii_header(outbound: Any, target: Any) -> Any:
        prepared = prepare(outbound, target)
        for request in prepared.requests:
            request.headers["x-note"] = "café"  # not ASCII: httpx refuses to encode it
        return prepared

    monkeypatch.setattr(tiktok, "prepare", non_ascii_header)
    await post_events(client, [customer_event(n) for n in range(3)])
    await worker.drain()

    rows = _by_code(await deliveries(sessionmaker))
    assert rows["meta"] == {("delivered", 1)}
    assert rows["tiktok"] == {("dead", 1)}
    assert SANDBOX.recorded("tiktok") == []
    dead = [a for a in await attempts(sessionmaker) if a.destination_code == "tiktok"]
    assert all("UnicodeEncodeError" in (a.error or "") for a in dead)


async def test_good_events_named_innocent_by_snapchat_are_sent_again_uncharged(
    client, sessionmaker, worker, settings
) -> None:
    # events three days ahead, which Snapchat refuses, get past ingestion's own check
    settings.event_time_future_tolerance_seconds = 4 * 86400
    await add_storefront(client)
    await add_platform(client, "snapchat")
    future = (datetime.now(UTC) + timedelta(days=3)).isoformat().replace("+00:00", "Z")
    items = [
        customer_event(n, event_time=future) if n % 2 else customer_event(n) for n in range(10)
    ]
    await post_events(client, items)
    await worker.drain()

    by_event = {e.event_id: e.status for e in await events(sessionmaker)}
    good = {f"ORD{n:08d}" for n in range(0, 10, 2)}
    assert {k for k, v in by_event.items() if v == "delivered"} == good
    assert {k for k, v in by_event.items() if v == "failed"} == set(by_event) - good
    # no attempt was charged to the good events for the bad ones' sake
    assert {(d.status, d.attempt_count) for d in await deliveries(sessionmaker)} == {
        ("delivered", 1),
        ("dead", 1),
    }


async def test_a_credential_that_cannot_be_decrypted_blocks_only_its_destination(
    client, sessionmaker, worker
) -> None:
    await add_storefront(client, "bosley")
    await add_storefront(client, "pfizer")
    broken = await add_platform(client, "meta", "bosley")
    await add_platform(client, "meta", "pfizer")
    foreign = Vault([Fernet.generate_key().decode()]).encrypt({"access_token": "x"})
    async with sessionmaker() as session, session.begin():
        await session.execute(
            update(PlatformCredential)
            .where(PlatformCredential.id == broken["id"])
            .values(credentials_encrypted=foreign)
        )
    await post_events(
        client,
        [customer_event(1, storefront="bosley"), customer_event(2, storefront="pfizer")],
    )
    await worker.drain()

    rows = {d.storefront_id: d for d in await deliveries(sessionmaker)}
    statuses = sorted((d.status, d.attempt_count) for d in rows.values())
    assert statuses == [("delivered", 1), ("pending", 1)]
    [waiting] = [d for d in rows.values() if d.status == "pending"]
    assert "cannot be decrypted" in (waiting.last_error or "")


async def test_an_event_that_cannot_be_routed_is_set_aside_and_the_rest_are_routed(
    client, sessionmaker, worker
) -> None:
    await add_storefront(client)
    await add_platform(client, "meta")
    await post_events(client, [customer_event(1)])
    await worker.drain()
    [first] = await events(sessionmaker)
    # an operator sets the event back to pending while its deliveries still exist
    async with sessionmaker() as session, session.begin():
        await session.execute(
            update(MarketingEvent).where(MarketingEvent.id == first.id).values(status="pending")
        )
    await post_events(client, [customer_event(n) for n in range(2, 5)])
    await worker.drain()

    by_event = {e.event_id: e for e in await events(sessionmaker)}
    poisoned = by_event.pop("ORD00000001")
    assert poisoned.status == "failed"
    assert "deliveries of this event already exist" in (poisoned.status_detail or "")
    assert {e.status for e in by_event.values()} == {"delivered"}
    assert sum(len(r.body["data"]) for r in SANDBOX.recorded("meta")) == 4  # no copy of #1


async def test_an_answer_holding_a_nul_character_is_recorded(app, client, sessionmaker) -> None:
    """PostgreSQL's text cannot hold NUL. An answer carrying one (unreadable: retried) is
    still recorded, the character written as \\u0000; before, the whole pass's record
    failed and its deliveries stayed in flight, to be sent again after every lease."""
    await add_storefront(client)
    await add_platform(client, "meta")
    calls = []

    def answer(request: httpx.Request) -> httpx.Response:
        # the first request is answered with a NUL in its body (unreadable: retried)
        calls.append(request)
        received = len(orjson.loads(request.content)["data"])
        if len(calls) == 1:
            return httpx.Response(200, text=f'{{"events_received": {received}}}\x00')
        return httpx.Response(200, json={"events_received": received})

    await post_events(client, [customer_event(n) for n in range(3)])
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as platform:
        state = app.state
        worker = create_worker(
            state.settings, state.sessionmaker, state.vault, state.metrics, client=platform
        )
        await worker.drain()
        first = await deliveries(sessionmaker)
        assert {d.status for d in first} <= {"pending", "delivered"}  # none left in flight
        assert "pending" in {d.status for d in first}
        await make_all_due(sessionmaker)
        await worker.drain()
    rows = await deliveries(sessionmaker)
    assert {d.status for d in rows} == {"delivered"}
    assert {d.attempt_count for d in rows} <= {1, 2} and 2 in {d.attempt_count for d in rows}
    async with sessionmaker() as session:
        bodies = (await session.execute(select(DeliveryRequest.response_body))).scalars().all()
    assert any("\\u0000" in (body or "") for body in bodies)


async def test_a_kind_whose_settling_fails_keeps_what_was_sent_recorded(
    client, sessionmaker, worker, monkeypatch
) -> None:
    """Settling (the relay's event summary here) failing on a row must not drop the
    pass's outcomes, or what was sent is sent again after every lease."""
    await add_storefront(client)
    await add_platform(client, "meta")

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise ValueError("a bug while settling")

    monkeypatch.setattr(RelayKind, "settle", broken)
    await post_events(client, [customer_event(n) for n in range(3)])
    await worker.drain()
    await make_all_due(sessionmaker)
    await worker.drain()
    assert _by_code(await deliveries(sessionmaker)) == {"meta": {("delivered", 1)}}
    assert len(SANDBOX.recorded("meta")) == 1


async def test_a_stored_payload_that_no_longer_reads_fails_only_its_event(
    client, sessionmaker, worker
) -> None:
    """An event's payload edited in the database after it was accepted (so no longer JSON)
    is that event's permanent failure, with the reason; the rest of its batch is sent."""
    await add_storefront(client)
    await add_platform(client, "meta")
    await post_events(client, [customer_event(n) for n in range(4)])
    SANDBOX.faults["meta"] = FaultConfig(kind="503")
    await worker.drain()  # routed, tried once: waiting to retry, the events read again then
    SANDBOX.faults.clear()
    async with sessionmaker() as session, session.begin():
        await session.execute(
            update(MarketingEvent)
            .where(MarketingEvent.event_id == "ORD00000002")
            .values(event_payload="not json {")
        )
    await make_all_due(sessionmaker)
    await worker.drain()
    rows = await deliveries(sessionmaker)
    states = {(d.status, d.last_error.split(":")[0] if d.status == "dead" else None) for d in rows}
    assert states == {("delivered", None), ("dead", "the stored payload is not JSON")}
    assert sum(d.status == "delivered" for d in rows) == 3


async def test_events_set_aside_by_a_bug_are_routed_again_once_it_is_fixed(
    client, sessionmaker, worker, monkeypatch, settings
) -> None:
    """A bug that breaks routing for every event sets every event aside (one poison row
    must never stop the pipeline); ``omnirelay route-again`` puts them back once fixed."""
    await add_storefront(client)
    await add_platform(client, "meta")
    contribute = RelayRouting.contribute

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise KeyError("a bug in routing")

    monkeypatch.setattr(RelayRouting, "contribute", broken)
    await post_events(client, [customer_event(n) for n in range(3)])
    await worker.drain()
    stored = await events(sessionmaker)
    assert {(e.status, e.status_detail) for e in stored} == {
        ("failed", "cannot be routed: KeyError")
    }
    monkeypatch.setattr(RelayRouting, "contribute", contribute)  # the fix

    monkeypatch.setattr(config, "get_settings", lambda: settings)
    done = await asyncio.to_thread(CliRunner().invoke, cli, ["route-again"])
    assert done.exit_code == 0, done.output
    assert "3 events back in the routing queue" in done.output
    await worker.drain()
    assert {e.status for e in await events(sessionmaker)} == {"delivered"}
    assert _by_code(await deliveries(sessionmaker)) == {"meta": {("delivered", 1)}}
