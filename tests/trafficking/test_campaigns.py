"""Campaigns: the generated taxonomy name, the seed's validation (unknown brand or market
422, a taken name 400 by the database's unique index), updates limited to budget and status,
previews."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from tests.trafficking.helpers import campaign, created, master_data


async def test_a_campaign_gets_its_taxonomy_name(client: httpx.AsyncClient) -> None:
    data = await master_data(client)
    made = await campaign(client, data, channel_id=data["meta"]["id"])
    assert made["name"] == "DIS_US_META_2026_MoanaLaunch"
    assert made["campaign_name"] == "Moana Launch"
    assert (made["currency"], made["status"], made["taxonomy_version"]) == (
        "USD",
        "DRAFT",
        "2026.1",
    )
    assert made["budget"] in ("5000.0000", "5000.00", "5000")


async def test_a_campaign_spanning_channels_is_multi_with_the_current_year(
    client: httpx.AsyncClient,
) -> None:
    data = await master_data(client)
    made = await campaign(client, data, year=None, campaign_name="Summer  Sale!", currency="eur")
    year = datetime.now(UTC).year
    assert made["name"] == f"DIS_US_MULTI_{year}_SummerSale"
    assert (made["year"], made["currency"]) == (year, "EUR")


async def test_unknown_brand_or_market_is_422(client: httpx.AsyncClient) -> None:
    data = await master_data(client)
    for field in ("brand_id", "market_id", "channel_id"):
        body = {
            "campaign_name": "X",
            "brand_id": data["brand"]["id"],
            "market_id": data["market"]["id"],
            "budget": 10,
            field: str(uuid.uuid4()),
        }
        response = await client.post("/api/v1/campaigns", json=body)
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["field"] == field


async def test_a_name_without_letters_or_digits_is_422(client: httpx.AsyncClient) -> None:
    data = await master_data(client)
    body = {
        "campaign_name": "!!!",
        "brand_id": data["brand"]["id"],
        "market_id": data["market"]["id"],
        "budget": 1,
    }
    response = await client.post("/api/v1/campaigns", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "campaign_name"


async def test_a_market_without_currency_needs_one_given(client: httpx.AsyncClient) -> None:
    data = await master_data(client)
    market = await created(client, "/api/v1/markets", {"code": "JP", "country": "Japan"})
    body = {
        "campaign_name": "X",
        "brand_id": data["brand"]["id"],
        "market_id": market["id"],
        "budget": 1,
    }
    response = await client.post("/api/v1/campaigns", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "currency"


async def test_a_duplicate_name_is_400(client: httpx.AsyncClient) -> None:
    data = await master_data(client)
    await campaign(client, data)
    response = await client.post(
        "/api/v1/campaigns",
        json={
            "campaign_name": "Moana-Launch",  # the same once reduced to letters and digits
            "brand_id": data["brand"]["id"],
            "market_id": data["market"]["id"],
            "budget": 1,
            "year": 2026,
        },
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": "duplicate_name",
        "detail": "campaign name 'DIS_US_MULTI_2026_MoanaLaunch' already exists",
    }


async def test_concurrent_creations_of_one_name_leave_one_campaign(
    app: Any, client: httpx.AsyncClient
) -> None:
    data = await master_data(client)
    body = {
        "campaign_name": "Race",
        "brand_id": data["brand"]["id"],
        "market_id": data["market"]["id"],
        "budget": 1,
    }
    answers = await asyncio.gather(*(client.post("/api/v1/campaigns", json=body) for _ in range(4)))
    assert sorted(a.status_code for a in answers) == [201, 400, 400, 400]
    assert (await client.get("/api/v1/campaigns")).json()["total"] == 1


async def test_names_are_unique_by_the_database(app: Any, client: httpx.AsyncClient) -> None:
    """The unique index refuses a second row of one name, whoever writes it."""
    from sqlalchemy.exc import IntegrityError

    from omnirelay.models import CampaignName

    data = await master_data(client)
    made = await campaign(client, data)
    async with app.state.sessionmaker() as session:
        session.add(CampaignName(name=made["name"], campaign_id=uuid.UUID(made["id"])))
        try:
            await session.commit()
        except IntegrityError:
            await session.rollback()
        else:
            raise AssertionError("a second row of the name was stored")


async def test_a_channel_ticket_name_cannot_be_another_campaigns(client: httpx.AsyncClient) -> None:
    data = await master_data(client)
    multi = await campaign(client, data)
    await campaign(client, data, channel_id=data["meta"]["id"])  # DIS_US_META_2026_MoanaLaunch
    response = await client.post(
        "/api/v1/tickets", json={"campaign_id": multi["id"], "channel_id": data["meta"]["id"]}
    )
    assert response.status_code == 400
    assert "DIS_US_META_2026_MoanaLaunch" in response.json()["detail"]
    # and the other way round: a campaign cannot take a ticket's channel name
    tiktok = await created(
        client, "/api/v1/tickets", {"campaign_id": multi["id"], "channel_id": data["tiktok"]["id"]}
    )
    assert tiktok["deployed_name"] == "DIS_US_TIKTOK_2026_MoanaLaunch"
    taken = await client.post(
        "/api/v1/campaigns",
        json={
            "campaign_name": "MoanaLaunch",
            "brand_id": data["brand"]["id"],
            "market_id": data["market"]["id"],
            "channel_id": data["tiktok"]["id"],
            "budget": 1,
            "year": 2026,
        },
    )
    assert taken.status_code == 400


async def test_only_budget_and_status_change(client: httpx.AsyncClient) -> None:
    data = await master_data(client)
    made = await campaign(client, data)
    path = f"/api/v1/campaigns/{made['id']}"
    updated = await client.put(path, json={"budget": "7500.5", "status": "ACTIVE"})
    assert updated.status_code == 200, updated.text
    assert (updated.json()["status"], float(updated.json()["budget"])) == ("ACTIVE", 7500.5)
    for field, value in (
        ("name", "X_US_META_2026_Y"),
        ("campaign_name", "Other"),
        ("brand_id", data["brand"]["id"]),
    ):
        response = await client.put(path, json={field: value})
        assert response.status_code == 422, field
    assert (await client.get(path)).json()["name"] == made["name"]
    assert (await client.put(path, json={"budget": 0})).status_code == 422
    assert (await client.put(path, json={"status": "ARCHIVED"})).status_code == 422


async def test_campaign_lists_filter(client: httpx.AsyncClient) -> None:
    data = await master_data(client)
    await campaign(client, data, campaign_name="A")
    await campaign(client, data, campaign_name="B", channel_id=data["meta"]["id"], status="ACTIVE")
    await campaign(client, data, campaign_name="C", year=2025)

    async def names(**params: Any) -> list[str]:
        page = (await client.get("/api/v1/campaigns", params=params)).json()
        return sorted(c["name"] for c in page["items"])

    assert await names(status="ACTIVE") == ["DIS_US_META_2026_B"]
    assert await names(year=2025) == ["DIS_US_MULTI_2025_C"]
    assert await names(channel_id=data["meta"]["id"]) == ["DIS_US_META_2026_B"]
    assert await names(q="multi_2026") == ["DIS_US_MULTI_2026_A"]
    assert len(await names(brand_id=data["brand"]["id"], limit=2)) == 2
    assert (await client.get("/api/v1/campaigns", params={"brand_id": "x"})).status_code == 422


async def test_preview_shows_the_name_without_creating(client: httpx.AsyncClient) -> None:
    data = await master_data(client)
    body = {
        "campaign_name": "Moana Launch",
        "brand_id": data["brand"]["id"],
        "market_id": data["market"]["id"],
        "channel_id": data["meta"]["id"],
        "year": 2026,
    }
    preview = (await client.post("/api/v1/taxonomy/preview", json=body)).json()
    assert preview["name"] == "DIS_US_META_2026_MoanaLaunch"
    assert preview["fields"]["channel_platform"] == "META"
    assert preview["taken"] is False
    assert (await client.get("/api/v1/campaigns")).json()["total"] == 0
    await campaign(client, data, channel_id=data["meta"]["id"])
    assert (await client.post("/api/v1/taxonomy/preview", json=body)).json()["taken"] is True
    unknown = await client.post(
        "/api/v1/taxonomy/preview", json=body | {"brand_id": str(uuid.uuid4())}
    )
    assert unknown.status_code == 422


async def test_parse_and_validate_endpoints(client: httpx.AsyncClient) -> None:
    parsed = (
        await client.post("/api/v1/taxonomy/parse", json={"name": "DIS_US_META_2026_Moana"})
    ).json()
    assert parsed["valid"] and parsed["fields"]["year"] == "2026"
    broken = (
        await client.post("/api/v1/taxonomy/parse", json={"name": "dis_US_META_26_Moana"})
    ).json()
    assert (broken["valid"], broken["fields"]) == (False, None)
    assert [v["field"] for v in broken["violations"]] == ["brand_code", "year"]
    names = ["DIS_US_META_2026_A", "nope", "DIS_US_META_2026_B", "DIS_US_META_2026_B-1"]
    result = (await client.post("/api/v1/taxonomy/validate", json={"names": names})).json()
    assert (result["checked"], result["valid"], result["invalid"]) == (4, 2, 2)
    assert [(r["index"], r["name"]) for r in result["results"]] == [
        (1, "nope"),
        (3, "DIS_US_META_2026_B-1"),
    ]
    assert result["results"][1]["violations"][0]["field"] == "campaign_name"
