from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

import httpx
import orjson
from sqlalchemy import select

from omnirelay.models import MarketingEvent
from tests.factories import SAMPLE_BATCH, create_storefronts, envelope, order_event


async def test_seed_sample_batch_is_stored(client: httpx.AsyncClient, sessionmaker) -> None:
    await create_storefronts(client, "bosley", "pfizer")
    response = await client.post("/v1/events", json=SAMPLE_BATCH)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "received": 3,
        "accepted": 3,
        "duplicates": 0,
        "rejected": [],
        "duplicates_in_batch": [],
    }
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
    assert again == {
        "received": 3,
        "accepted": 0,
        "duplicates": 3,
        "rejected": [],
        "duplicates_in_batch": [],
    }


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


async def post_raw(client: httpx.AsyncClient, body: bytes) -> httpx.Response:
    return await client.post(
        "/v1/events", content=body, headers={"content-type": "application/json"}
    )


def batch_with_literals(items: list[dict], **literals: bytes) -> bytes:
    """The batch as JSON, each ``"@name"`` string value replaced by the literal given (a
    number Python's json would not write as sent)."""
    body = json.dumps(envelope(items)).encode()
    for name, literal in literals.items():
        body = body.replace(f'"@{name}"'.encode(), literal)
    return body


async def stored_events(sessionmaker) -> list[MarketingEvent]:
    async with sessionmaker() as session:
        return list(
            (await session.execute(select(MarketingEvent).order_by(MarketingEvent.id))).scalars()
        )


def rejected_by_index(result: dict) -> dict[int, tuple[str | None, str]]:
    return {r["index"]: (r["field"], r["reason"]) for r in result["rejected"]}


async def test_event_times_beyond_utc_reject_only_their_item(
    client: httpx.AsyncClient, sessionmaker
) -> None:
    await create_storefronts(client, "bosley")
    items = [
        order_event(1),
        order_event(2, event_time="0001-01-01T00:00:00+14:00"),
        order_event(3),
        order_event(4, event_time="9999-12-31T23:59:59-14:00"),
        # the limits themselves convert: year 1 is in the past, year 9999 in the future
        order_event(5, event_time="0001-01-01T00:00:00-14:00"),
    ]
    response = await client.post("/v1/events", json=envelope(items))
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["accepted"] == 3
    rejected = rejected_by_index(result)
    assert set(rejected) == {1, 3}
    for field, reason in rejected.values():
        assert field == "event_time" and "UTC" in reason
    stored = await stored_events(sessionmaker)
    assert [e.event_id for e in stored] == [order_event(n)["order_id"] for n in (1, 3, 5)]
    assert stored[2].event_time is not None
    assert stored[2].event_time.isoformat() == "0001-01-01T14:00:00+00:00"


def batch_with_nesting(depths: list[int], first: int = 0) -> bytes:
    """A batch whose item n holds ``"deep"`` nested ``depths[n]`` levels, written by hand:
    json and orjson refuse to write such values."""
    items = []
    for n, levels in enumerate(depths):
        item = orjson.dumps(order_event(first + n))[:-1]
        items.append(item + b',"deep":' + b"[" * levels + b'"leaf"' + b"]" * levels + b"}")
    return b'{"count":%d,"data":[' % len(items) + b",".join(items) + b'],"error":""}'


async def test_values_nested_too_deep_reject_only_their_item(
    client: httpx.AsyncClient, sessionmaker
) -> None:
    """Items are stored and sent again inside the platforms' bodies; one nested deeper than
    that allows is refused by itself, the others kept."""
    await create_storefronts(client, "bosley")
    # "deep" at 63 levels makes the item 64 deep; the body around it adds two (orjson
    # reads 1024 levels in all, writes 254)
    depths = [63, 64, 200, 253, 254, 300, 1000, 1021]
    response = await post_raw(client, batch_with_nesting(depths))
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["accepted"] == 1
    rejected = rejected_by_index(result)
    assert set(rejected) == set(range(1, len(depths)))
    for field, reason in rejected.values():
        assert field == "deep" and "nested deeper than 64 levels" in reason
    [stored] = await stored_events(sessionmaker)
    assert stored.event_id == order_event(0)["order_id"]

    too_deep_to_read = batch_with_nesting([1022], first=99)
    response = await post_raw(client, too_deep_to_read)
    assert response.status_code == 422 and response.json()["detail"][0]["field"] == "body"


async def test_integer_order_ids_are_kept_exactly_as_sent(
    client: httpx.AsyncClient, sessionmaker
) -> None:
    """Beyond 64 bits a JSON reader may round an integer to a float: 2**80 and 2**80 + 1
    would be one order. Each is its exact decimal string, in the event id and the payload."""
    await create_storefronts(client, "bosley")
    ids = [2**80, 2**80 + 1, 2**64, 2**64 + 1, 2**63, -(2**63) - 1, 10**99, 2**63 - 1, 12345]
    items = [order_event(n) | {"order_id": order_id} for n, order_id in enumerate(ids)]
    response = await client.post("/v1/events", json=envelope(items))
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == len(ids), response.text
    stored = await stored_events(sessionmaker)
    assert [e.event_id for e in stored] == [str(i) for i in ids]
    payloads = [json.loads(e.event_payload)["order_id"] for e in stored]
    # within 64 bits the payload keeps the number; beyond, the exact string every JSON
    # reader downstream gets right
    assert payloads == [str(i) for i in ids[:7]] + [2**63 - 1, 12345]
    again = (await client.post("/v1/events", json=envelope(items))).json()
    assert (again["accepted"], again["duplicates"]) == (0, len(ids))

    not_ids = [1.5, 2025020100000001.0, True, 10**101]
    items = [order_event(n) | {"order_id": order_id} for n, order_id in enumerate(not_ids)]
    body = batch_with_literals([*items, order_event(50) | {"order_id": "@huge"}], huge=b"1e400")
    result = (await post_raw(client, body)).json()
    assert result["accepted"] == 0
    rejected = rejected_by_index(result)
    assert set(rejected) == set(range(len(not_ids) + 1))
    assert {field for field, _ in rejected.values()} == {"order_id"}
    assert "string or an integer" in rejected[0][1]


async def test_integers_beyond_64_bits_elsewhere_reject_their_item(
    client: httpx.AsyncClient, sessionmaker
) -> None:
    await create_storefronts(client, "bosley")
    items = [
        order_event(1, loyalty_points=2**80),
        order_event(2, line_items=[{"sku": "A", "quantity": 2**64}]),
        order_event(3, loyalty_points=2**63 - 1),
    ]
    result = (await client.post("/v1/events", json=envelope(items))).json()
    assert result["accepted"] == 1
    rejected = rejected_by_index(result)
    assert rejected[0][0] == "loyalty_points" and "64-bit" in rejected[0][1]
    assert rejected[1][0] == "line_items.0.quantity" and "64-bit" in rejected[1][1]


async def test_revenue_a_platform_cannot_take_is_rejected_at_ingest(
    client: httpx.AsyncClient, sessionmaker
) -> None:
    """Caught when the OMS sends it, with the reason, instead of dead-lettered later."""
    await create_storefronts(client, "bosley")
    refused = ["NaN", "nan", "inf", "-inf", "Infinity", "1e400", True, False, "lots", [1]]
    literals = {"nan": b"NaN", "inf": b"Infinity", "ninf": b"-Infinity", "big": b"1e400"}
    accepted = [80.79, "80.79", 0, None, 1e308]
    items = [order_event(n, order_revenue=value) for n, value in enumerate(refused)]
    items += [order_event(20 + n, order_revenue=f"@{name}") for n, name in enumerate(literals)]
    items += [order_event(40 + n, order_revenue=value) for n, value in enumerate(accepted)]
    items += [order_event(60, score="@nan"), order_event(61, scores=[1, "@big"])]
    response = await post_raw(client, batch_with_literals(items, **literals))
    assert response.status_code == 200, response.text
    result = response.json()
    rejected = rejected_by_index(result)
    revenue_rejections = len(refused) + len(literals)
    assert set(rejected) == set(range(revenue_rejections)) | {
        revenue_rejections + len(accepted),
        revenue_rejections + len(accepted) + 1,
    }
    for index in range(revenue_rejections):
        assert rejected[index][0] == "order_revenue", (index, rejected[index])
    assert "finite" in rejected[0][1] and "boolean" in rejected[len(refused) - 4][1]
    assert rejected[revenue_rejections + len(accepted)][0] == "score"
    assert rejected[revenue_rejections + len(accepted) + 1][0] == "scores.1"
    assert result["accepted"] == len(accepted)
    stored = {e.event_id: json.loads(e.event_payload) for e in await stored_events(sessionmaker)}
    assert [p.get("order_revenue") for p in stored.values()] == accepted


async def test_event_times_too_far_in_the_future_are_rejected(
    client: httpx.AsyncClient, app
) -> None:
    await create_storefronts(client, "bosley")
    assert app.state.settings.event_time_future_tolerance_seconds == 300
    now = datetime.now(UTC)

    def at(n: int, delta: timedelta) -> dict:
        return order_event(n, event_time=(now + delta).isoformat())

    items = [at(1, timedelta(minutes=2)), at(2, timedelta(minutes=10)), at(3, timedelta(days=-3))]
    result = (await client.post("/v1/events", json=envelope(items))).json()
    assert result["accepted"] == 2
    [(index, (field, reason))] = rejected_by_index(result).items()
    assert (index, field) == (1, "event_time")
    assert "future" in reason and "300" in reason

    app.state.settings.event_time_future_tolerance_seconds = 3600
    result = (await client.post("/v1/events", json=envelope([at(4, timedelta(minutes=10))]))).json()
    assert result["accepted"] == 1 and result["rejected"] == []


async def test_duplicates_inside_a_batch_are_reported_by_index(client: httpx.AsyncClient) -> None:
    await create_storefronts(client, "bosley")
    a, b, c = order_event(1), order_event(2), order_event(3)
    other_type = order_event(1, event_name="consult_started")
    unknown = order_event(4, storefront="nowhere")
    items = [a, b, a, other_type, c, b | {"order_revenue": 1}, a, unknown, unknown]
    result = (await client.post("/v1/events", json=envelope(items))).json()
    assert result["accepted"] == 4
    assert result["duplicates"] == 3
    assert result["duplicates_in_batch"] == [
        {"index": 2, "duplicate_of": 0, "order_id": a["order_id"]},
        {"index": 5, "duplicate_of": 1, "order_id": b["order_id"]},
        {"index": 6, "duplicate_of": 0, "order_id": a["order_id"]},
    ]
    assert {r["index"] for r in result["rejected"]} == {7, 8}

    again = (await client.post("/v1/events", json=envelope([c, c]))).json()
    assert (again["accepted"], again["duplicates"]) == (0, 2)
    assert again["duplicates_in_batch"] == [
        {"index": 1, "duplicate_of": 0, "order_id": c["order_id"]}
    ]


async def test_nul_characters_reject_only_their_item(
    client: httpx.AsyncClient, sessionmaker
) -> None:
    """PostgreSQL text cannot hold U+0000: one such id failed the whole batch there."""
    await create_storefronts(client, "bosley")
    items = [
        order_event(1),
        order_event(2) | {"order_id": "2025\u00000002"},
        order_event(3, storefront="bos\u0000ley"),
        order_event(4, external_id="cust\u00004"),
        order_event(5, customer_id="cust\u00005"),
        order_event(6, note="free text\u0000 is kept in the payload"),
    ]
    response = await client.post("/v1/events", json=envelope(items))
    assert response.status_code == 200, response.text
    result = response.json()
    rejected = rejected_by_index(result)
    assert {index: field for index, (field, _) in rejected.items()} == {
        1: "order_id",
        2: "storefront_id",
        3: "external_id",
        4: "customer_id",
    }
    assert all("NUL" in reason for _, reason in rejected.values())
    assert result["accepted"] == 2
    stored = await stored_events(sessionmaker)
    assert json.loads(stored[1].event_payload)["note"] == "free text\u0000 is kept in the payload"
