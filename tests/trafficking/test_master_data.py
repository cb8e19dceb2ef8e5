"""Markets, brands and channels: CRUD, codes upper-cased and unique, lists paged and
filtered, nothing deleted or re-coded while referenced."""

from __future__ import annotations

import uuid

import httpx

from tests.trafficking.helpers import campaign, created, master_data


async def test_markets_crud(client: httpx.AsyncClient) -> None:
    market = await created(
        client, "/api/v1/markets", {"code": " gb ", "country": "United Kingdom", "region": "EMEA"}
    )
    assert (market["code"], market["currency"]) == ("GB", None)
    assert uuid.UUID(market["id"])
    path = f"/api/v1/markets/{market['id']}"
    assert (await client.get(path)).json()["country"] == "United Kingdom"
    updated = await client.put(path, json={"currency": "gbp", "region": "Europe"})
    assert updated.status_code == 200, updated.text
    assert (updated.json()["currency"], updated.json()["region"]) == ("GBP", "Europe")
    assert (await client.delete(path)).status_code == 204
    assert (await client.get(path)).status_code == 404


async def test_codes_are_validated_and_unique(client: httpx.AsyncClient) -> None:
    bad = await client.post("/api/v1/brands", json={"name": "X", "internal_code": "a-b"})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["field"] == "internal_code"
    await created(client, "/api/v1/brands", {"name": "Disney", "internal_code": "DIS"})
    again = await client.post("/api/v1/brands", json={"name": "Other", "internal_code": "dis"})
    assert again.status_code == 409
    assert "'DIS' already exists" in again.json()["detail"]


async def test_unknown_ids_are_404(client: httpx.AsyncClient) -> None:
    for path in ("markets", "brands", "channels", "campaigns", "tickets"):
        for ref in (str(uuid.uuid4()), "not-a-uuid", "1"):
            response = await client.get(f"/api/v1/{path}/{ref}")
            assert response.status_code == 404, (path, ref)


async def test_lists_are_paged_and_filtered(client: httpx.AsyncClient) -> None:
    for code, region in (("US", "NA"), ("CA", "NA"), ("DE", "EMEA"), ("FR", "EMEA")):
        await created(client, "/api/v1/markets", {"code": code, "country": code, "region": region})
    page = (await client.get("/api/v1/markets", params={"limit": 2, "offset": 1})).json()
    assert (page["total"], [m["code"] for m in page["items"]]) == (4, ["DE", "FR"])
    emea = (await client.get("/api/v1/markets", params={"region": "EMEA"})).json()
    assert [m["code"] for m in emea["items"]] == ["DE", "FR"]
    found = (await client.get("/api/v1/markets", params={"q": "u"})).json()
    assert [m["code"] for m in found["items"]] == ["US"]


async def test_deleting_a_referenced_row_is_a_409_naming_what_refers_to_it(
    client: httpx.AsyncClient,
) -> None:
    data = await master_data(client)
    made = await campaign(client, data, channel_id=data["meta"]["id"])
    for path, row in (("brands", "brand"), ("markets", "market"), ("channels", "meta")):
        response = await client.delete(f"/api/v1/{path}/{data[row]['id']}")
        assert response.status_code == 409, response.text
        assert "1 campaigns (DIS_US_META_2026_MoanaLaunch)" in response.json()["detail"]
    ticket = await created(
        client,
        "/api/v1/tickets",
        {"campaign_id": made["id"], "channel_id": data["meta"]["id"]},
    )
    response = await client.delete(f"/api/v1/campaigns/{made['id']}")
    assert response.status_code == 409
    assert "1 tickets" in response.json()["detail"]
    assert (await client.delete(f"/api/v1/tickets/{ticket['id']}")).status_code == 204
    assert (await client.delete(f"/api/v1/campaigns/{made['id']}")).status_code == 204
    assert (await client.delete(f"/api/v1/brands/{data['brand']['id']}")).status_code == 204


async def test_a_code_the_stored_names_carry_does_not_change(client: httpx.AsyncClient) -> None:
    data = await master_data(client)
    await campaign(client, data)
    response = await client.put(
        f"/api/v1/brands/{data['brand']['id']}", json={"internal_code": "DSN"}
    )
    assert response.status_code == 409
    assert "their names carry internal_code" in response.json()["detail"]
    renamed = await client.put(f"/api/v1/brands/{data['brand']['id']}", json={"name": "Disney Co"})
    assert renamed.status_code == 200
    recoded = await client.put(
        f"/api/v1/channels/{data['tiktok']['id']}", json={"platform_name": "tt"}
    )
    assert recoded.json()["platform_name"] == "TT"
