"""No single event, request, credential or destination stops work on the others."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import update

from omnirelay.destinations import get_destination
from omnirelay.models import MarketingEvent, PlatformCredential
from omnirelay.sandbox.core import SANDBOX
from omnirelay.security import Vault
from tests.delivery.helpers import (
    add_platform,
    add_storefront,
    attempts,
    customer_event,
    deliveries,
    events,
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
