"""Who may post and read, and what a bad payload gets: a 4xx naming the field, nothing
stored."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from omnirelay.models import MarketingEvent, MessageDecision
from tests.factories import create_storefronts
from tests.messaging.conftest import Clock, SendRecorder, event


async def _key(client: httpx.AsyncClient, *scopes: str, **extra: Any) -> httpx.BasicAuth:
    response = await client.post(
        "/admin/v1/keys", json={"name": "k", "scopes": list(scopes), **extra}
    )
    assert response.status_code == 201, response.text
    key = response.json()
    return httpx.BasicAuth(key["key_id"], key["secret"])


async def _stored(sessionmaker: Any) -> tuple[int, int]:
    async with sessionmaker() as session:
        events = (await session.execute(select(func.count(MarketingEvent.id)))).scalar_one()
        decisions = (await session.execute(select(func.count(MessageDecision.id)))).scalar_one()
    return events, decisions


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"user_id": None}, "user_id"),
        ({"user_id": ""}, "user_id"),
        ({"user_id": 12345}, "user_id"),
        ({"event_type": None}, "event_type"),
        ({"event_timestamp": "yesterday"}, "event_timestamp"),
        ({"event_timestamp": 1705314600}, "event_timestamp"),
        ({"event_timestamp": "2024-02-30T10:00:00Z"}, "event_timestamp"),
        ({"event_timestamp": "2999-01-01T00:00:00Z"}, "event_timestamp"),
        ({"properties": ["not", "an", "object"]}, "properties"),
        ({"properties": "x"}, "properties"),
        ({"user_traits": 3}, "user_traits"),
        ({"properties": {"name": "a\x00b"}}, "properties"),
        ({"user_traits": {"email": ["a\x00b"]}}, "user_traits"),
        ({"event_timestamp": "0001-01-01T00:00:00Z"}, "event_timestamp"),
        ({"storefront_id": "nowhere"}, "storefront_id"),
    ],
)
async def test_a_bad_payload_is_a_422_naming_the_field_and_nothing_is_stored(
    client: httpx.AsyncClient,
    storefront: int,
    sent: SendRecorder,
    clock: Clock,
    sessionmaker: Any,
    change: dict[str, Any],
    field: str,
) -> None:
    body = {k: v for k, v in (event() | change).items() if v is not None}
    response = await client.post("/events", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "validation_error"
    assert field in [problem["field"] for problem in response.json()["detail"]]
    assert await _stored(sessionmaker) == (0, 0)
    assert sent.sends == []


async def test_a_body_that_is_not_a_json_object_is_refused(
    client: httpx.AsyncClient, storefront: int, clock: Clock
) -> None:
    for content, status in ((b"{not json", 422), (b"[1, 2]", 422), (b"null", 422)):
        response = await client.post(
            "/events/", content=content, headers={"content-type": "application/json"}
        )
        assert (response.status_code, response.json()["detail"][0]["field"]) == (status, "body")
    plain = await client.post("/events", content=b"{}", headers={"content-type": "text/plain"})
    assert plain.status_code == 415


async def test_posting_needs_an_ingest_key_and_reading_a_read_key(
    app: Any, client: httpx.AsyncClient, storefront: int, sent: SendRecorder, clock: Clock
) -> None:
    transport = httpx.ASGITransport(app=app)
    ingest = await _key(client, "ingest")
    read = await _key(client, "read")
    async with httpx.AsyncClient(transport=transport, base_url="http://omnirelay") as anonymous:
        assert (await anonymous.post("/events", json=event())).status_code == 401
        assert (await anonymous.get("/audit/user_12345")).status_code == 401
        wrong = httpx.BasicAuth("ork_0000000000000000", "nope")
        assert (await anonymous.post("/events", json=event(), auth=wrong)).status_code == 401
        assert (await anonymous.post("/events", json=event(), auth=read)).status_code == 403
        assert (await anonymous.get("/audit/user_12345", auth=ingest)).status_code == 403
        assert (await anonymous.post("/events", json=event(), auth=ingest)).status_code == 200
        assert (await anonymous.get("/audit/user_12345", auth=read)).status_code == 200
        reload = "/admin/v1/messaging/rules/reload"
        assert (await anonymous.post(reload, auth=read)).status_code == 403
        assert (await anonymous.post(reload, auth=ingest)).status_code == 403


async def test_a_key_limited_to_storefronts_posts_and_reads_only_theirs(
    app: Any, client: httpx.AsyncClient, storefront: int, sent: SendRecorder, clock: Clock
) -> None:
    await create_storefronts(client, "other")
    transport = httpx.ASGITransport(app=app)
    ingest = await _key(client, "ingest", storefronts=["other"])
    read = await _key(client, "read", storefronts=["other"])
    async with httpx.AsyncClient(transport=transport, base_url="http://omnirelay") as caller:
        refused = await caller.post("/events", json=event(), auth=ingest)
        assert refused.status_code == 403
        assert "'shop'" in refused.json()["detail"]
        ok = await caller.post("/events", json=event(storefront_id="other"), auth=ingest)
        assert ok.status_code == 200
    # the admin posts one for shop as well; the limited reader sees only other's
    assert (await client.post("/events", json=event(at="2024-01-15T11:00:00Z"))).status_code == 200
    everything = (await client.get("/audit/user_12345")).json()
    async with httpx.AsyncClient(transport=transport, base_url="http://omnirelay") as caller:
        limited = (await caller.get("/audit/user_12345", auth=read)).json()
        shop_only = (
            await caller.get("/audit/user_12345", params={"storefront_id": "shop"}, auth=read)
        ).json()
    assert everything["total"] == 2
    assert [d["event_id"] for d in limited["decisions"]] == [ok.json()["event_id"]]
    assert shop_only["total"] == 0
