from __future__ import annotations

import copy
import json

import httpx
from sqlalchemy import select

from omnirelay.models import MarketingEvent
from tests.factories import SAMPLE_BATCH, create_storefronts, envelope, order_event


async def test_seed_sample_batch_is_stored(client: httpx.AsyncClient, sessionmaker) -> None:
    await create_storefronts(client, "bosley", "pfizer")
    response = await client.post("/v1/events", json=SAMPLE_BATCH)
    assert response.status_code == 200, response.text
    assert response.json() == {"received": 3, "accepted": 3, "duplicates": 0, "rejected": []}
    async with sessionmaker() as session:
        events = (
            (await session.execute(select(MarketingEvent).order_by(MarketingEvent.id)))
            .scalars()
            .all()
        )
    assert [
        (e.event_id, e.storefront_code, e.event_type, e.status, e.source_system) for e in events
    ] == [
        ("2025010100001111", "bosley", "consult_started", "pending", "oms"),
        ("2025010100002222", "pfizer", "rx_issued", "pending", "oms"),
        ("2025020100003333", "bosley", "purchase_completed", "pending", "oms"),
    ]
    purchase = events[2]
    assert (
        purchase.event_time is not None
        and purchase.event_time.isoformat() == "2026-01-15T10:25:00+00:00"
    )
    # the payload is kept as sent, including the dashed key and unknown fields
    import json

    payload = json.loads(purchase.event_payload)
    assert payload["t-value"] == "bosleyaffiliate_0123"
    assert payload["order_ship_date"] == "2026-01-15T10:25:00Z"
    assert payload["order_revenue"] == 80.79


async def test_resending_a_batch_reports_duplicates(client: httpx.AsyncClient) -> None:
    await create_storefronts(client, "bosley", "pfizer")
    assert (await client.post("/v1/events", json=SAMPLE_BATCH)).json()["accepted"] == 3
    again = (await client.post("/v1/events", json=SAMPLE_BATCH)).json()
    assert again == {"received": 3, "accepted": 0, "duplicates": 3, "rejected": []}


async def test_one_order_emits_several_event_types(client: httpx.AsyncClient) -> None:
    await create_storefronts(client, "bosley")
    items = [
        order_event(1, event_name=name)
        for name in ("consult_started", "rx_issued", "purchase_completed")
    ]
    result = (await client.post("/v1/events", json=envelope(items))).json()
    assert result["accepted"] == 3 and result["duplicates"] == 0


async def test_bad_items_are_rejected_and_good_ones_kept(
    client: httpx.AsyncClient, sessionmaker
) -> None:
    await create_storefronts(client, "bosley")
    good = order_event(1)
    missing_order = order_event(2)
    del missing_order["order_id"]
    bad_time = order_event(3, event_time="yesterday at noon")
    unknown_storefront = order_event(4, storefront="nowhere")
    items = [good, missing_order, bad_time, unknown_storefront, "not an object", order_event(5)]
    response = await client.post("/v1/events", json=envelope(items))
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 2
    rejected = {r["index"]: r for r in body["rejected"]}
    assert set(rejected) == {1, 2, 3, 4}
    assert rejected[1]["field"] == "order_id" and "missing" in rejected[1]["reason"]
    assert rejected[2]["field"] == "event_time"
    assert rejected[3]["field"] == "storefront_id" and "nowhere" in rejected[3]["reason"]
    assert rejected[4]["reason"] == "item must be an object"
    async with sessionmaker() as session:
        stored = (await session.execute(select(MarketingEvent.event_id))).scalars().all()
    assert sorted(stored) == [good["order_id"], order_event(5)["order_id"]]


async def test_malformed_envelope_is_422_naming_the_field(client: httpx.AsyncClient) -> None:
    no_data = copy.deepcopy(SAMPLE_BATCH)
    del no_data["data"]
    response = await client.post("/v1/events", json=no_data)
    assert response.status_code == 422
    assert response.json()["error"] == "validation_error"
    assert response.json()["detail"][0]["field"] == "data"

    bad_count = copy.deepcopy(SAMPLE_BATCH) | {"count": "many"}
    response = await client.post("/v1/events", json=bad_count)
    assert response.status_code == 422 and response.json()["detail"][0]["field"] == "count"

    response = await client.post(
        "/v1/events", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422 and response.json()["detail"][0]["field"] == "body"

    response = await client.post("/v1/events", json=[1, 2])
    assert response.status_code == 422


async def test_body_over_the_limit_is_413(client: httpx.AsyncClient, app) -> None:
    app.state.settings.max_request_body_bytes = 2048
    items = [order_event(n) for n in range(50)]
    response = await client.post("/v1/events", json=envelope(items))
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


async def test_a_4000_item_batch_is_accepted_in_one_request(client: httpx.AsyncClient) -> None:
    await create_storefronts(client, "bosley")
    items = [order_event(n) for n in range(4000)]
    response = await client.post("/v1/events", json=envelope(items))
    assert response.status_code == 200
    assert response.json()["accepted"] == 4000


async def test_ingest_requires_basic_auth(app) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://x"
    ) as anonymous:
        response = await anonymous.post("/v1/events", json=SAMPLE_BATCH)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Basic")
        wrong = await anonymous.post("/v1/events", json=SAMPLE_BATCH, auth=("admin", "nope"))
        assert wrong.status_code == 401


async def test_naive_timestamps_are_taken_as_utc_and_offsets_converted(
    client: httpx.AsyncClient, sessionmaker
) -> None:
    await create_storefronts(client, "bosley")
    items = [
        order_event(1, event_time="2026-01-15T10:25:00"),
        order_event(2, event_time="2026-01-15T12:25:00+02:00"),
    ]
    assert (await client.post("/v1/events", json=envelope(items))).json()["accepted"] == 2
    async with sessionmaker() as session:
        times = (
            (await session.execute(select(MarketingEvent.event_time).order_by(MarketingEvent.id)))
            .scalars()
            .all()
        )
    assert [t.isoformat() for t in times] == [
        "2026-01-15T10:25:00+00:00",
        "2026-01-15T10:25:00+00:00",
    ]


async def test_order_ids_differing_in_case_are_different_events(client: httpx.AsyncClient) -> None:
    await create_storefronts(client, "bosley")
    items = [order_event(1) | {"order_id": "ab-100"}, order_event(1) | {"order_id": "AB-100"}]
    result = (await client.post("/v1/events", json=envelope(items))).json()
    assert (result["accepted"], result["duplicates"]) == (2, 0)


async def test_events_need_a_json_content_type(client: httpx.AsyncClient, sessionmaker) -> None:
    """A browser holding cached Basic credentials can be made to post text/plain (or form)
    bodies from another site without a preflight; only JSON media types are read."""
    await create_storefronts(client, "bosley")
    body = json.dumps(envelope([order_event(1)])).encode()
    for content_type in (
        None,
        "text/plain",
        "text/plain; charset=utf-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonp",
        "application/json; charset=iso-8859-1",
    ):
        headers = {"content-type": content_type} if content_type else {}
        response = await client.post("/v1/events", content=body, headers=headers)
        assert response.status_code == 415, (content_type, response.text)
        assert response.json() == {
            "error": "unsupported_media_type",
            "detail": [
                {
                    "field": "content-type",
                    "reason": response.json()["detail"][0]["reason"],
                }
            ],
        }
        assert "application/json" in response.json()["detail"][0]["reason"]
    async with sessionmaker() as session:
        assert (await session.execute(select(MarketingEvent.id))).first() is None

    for n, content_type in enumerate(
        (
            "application/json",
            "Application/JSON; charset=UTF-8",
            'application/json;charset="utf-8"',
            "application/vnd.oms.batch+json",
        )
    ):
        body = json.dumps(envelope([order_event(10 + n)])).encode()
        response = await client.post(
            "/v1/events", content=body, headers={"content-type": content_type}
        )
        assert response.status_code == 200 and response.json()["accepted"] == 1, content_type
