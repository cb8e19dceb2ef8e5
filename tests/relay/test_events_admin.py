"""The events views and replay refuse what cannot name a row or a time: a 422 naming the
field, never a 500 from the database driver."""

from __future__ import annotations

import httpx

from tests.factories import create_storefronts, envelope, order_event

BEYOND_64_BITS = (2**63, -(2**63) - 1, 2**80)
# Valid ISO 8601, but UTC is outside the years 1 to 9999 for them.
UNCONVERTIBLE_TIMES = ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00")


def fields(response: httpx.Response) -> set[str]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "validation_error", body
    return {problem["field"] for problem in body["detail"]}


async def test_ids_offsets_and_limits_beyond_64_bits_are_422(client: httpx.AsyncClient) -> None:
    for number in BEYOND_64_BITS:
        assert fields(await client.get(f"/admin/v1/events/{number}")) == {"event_pk"}
        for param in ("offset", "limit"):
            response = await client.get("/admin/v1/events", params={param: number})
            assert fields(response) == {param}
        for name in ("delivery_ids", "event_ids"):
            response = await client.post("/admin/v1/deliveries/replay", json={name: [1, number]})
            assert fields(response) == {f"{name}.1"}
        for name in ("storefront_id", "limit"):
            response = await client.post("/admin/v1/deliveries/replay", json={name: number})
            assert fields(response) == {name}
    # the largest the databases hold are answered
    missing = await client.get(f"/admin/v1/events/{2**63 - 1}")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    page = await client.get("/admin/v1/events", params={"offset": 2**63 - 1})
    assert page.status_code == 200 and page.json()["items"] == []
    replay = await client.post(
        "/admin/v1/deliveries/replay", json={"delivery_ids": [2**63 - 1], "event_ids": [-(2**63)]}
    )
    assert replay.status_code == 200 and replay.json() == {"replayed": 0, "delivery_ids": []}


async def test_times_that_cannot_be_converted_to_utc_are_422(client: httpx.AsyncClient) -> None:
    await create_storefronts(client, "bosley")
    response = await client.post("/v1/events", json=envelope([order_event(1)]))
    assert response.json()["accepted"] == 1
    for when in UNCONVERTIBLE_TIMES:
        for name in ("since", "until"):
            response = await client.get("/admin/v1/events", params={name: when})
            assert fields(response) == {name}
            response = await client.post("/admin/v1/deliveries/replay", json={name: when})
            assert fields(response) == {name}
    # the limits themselves, in UTC or converting inside them, are times like any other
    for since, until, total in (
        ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", 1),
        ("0001-01-01T00:00:00-14:00", "9999-12-31T23:59:59+14:00", 1),
        ("9999-12-31T23:59:59Z", None, 0),
    ):
        params = {"since": since} | ({"until": until} if until else {})
        page = await client.get("/admin/v1/events", params=params)
        assert page.status_code == 200, page.text
        assert page.json()["total"] == total, params
        replay = await client.post("/admin/v1/deliveries/replay", json=params)
        assert replay.status_code == 200, replay.text


async def test_events_are_found_by_their_order_id_and_read_by_their_internal_id(
    client: httpx.AsyncClient,
) -> None:
    """As the README shows: ``?event_id=`` is the source event id (the order id), and each
    item's ``id`` is the internal id ``GET /admin/v1/events/{id}`` takes."""
    await create_storefronts(client, "bosley")
    posted = await client.post("/v1/events", json=envelope([order_event(n) for n in (1, 2, 3)]))
    assert posted.json()["accepted"] == 3
    page = await client.get("/admin/v1/events", params={"event_id": "2025020100000002"})
    assert page.status_code == 200, page.text
    [item] = page.json()["items"]
    assert item["event_id"] == "2025020100000002"
    detail = await client.get(f"/admin/v1/events/{item['id']}")
    assert detail.status_code == 200 and detail.json()["event_id"] == "2025020100000002"
    none = await client.get("/admin/v1/events", params={"event_id": "2025020199999999"})
    assert none.json()["items"] == [] and none.json()["total"] == 0
