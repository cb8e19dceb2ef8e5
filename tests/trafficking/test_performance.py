"""A campaign's performance: relayed events matched by utm_campaign (its taxonomy names)
or utm_id (its id), counted and summed by the database by day, event type and currency."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from sqlalchemy import insert

from omnirelay.models import MarketingEvent
from omnirelay.trafficking.taxonomy import Taxonomy
from tests.trafficking.helpers import campaign, created, master_data


async def _events(app: Any, rows: list[tuple[str, str, str | dict[str, Any], str | None]]) -> None:
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            insert(MarketingEvent),
            [
                {
                    "event_id": f"o{n}",
                    "storefront_code": "shop",
                    "event_type": event_type,
                    "event_payload": payload
                    if isinstance(payload, str)
                    else orjson.dumps(payload).decode(),
                    "status": status or "delivered",
                    "event_time": datetime.fromisoformat(when).replace(tzinfo=UTC),
                }
                for n, (event_type, when, payload, status) in enumerate(rows)
            ],
        )


async def test_conversions_and_revenue_by_day_and_type(app: Any, client: httpx.AsyncClient) -> None:
    data = await master_data(client)
    made = await campaign(client, data)
    ticket = await created(
        client, "/api/v1/tickets", {"campaign_id": made["id"], "channel_id": data["meta"]["id"]}
    )
    name, deployed = made["name"], ticket["deployed_name"]
    await _events(
        app,
        [
            (
                "purchase_completed",
                "2026-03-01 10:00:00",
                {"utm_campaign": deployed, "order_revenue": 80.5, "currency": "usd"},
                None,
            ),
            (
                "purchase_completed",
                "2026-03-01 23:59:59",
                {"utm_campaign": name, "order_revenue": "19.50", "currency": "USD"},
                None,
            ),
            (
                "purchase_completed",
                "2026-03-02 00:00:01",
                {"utm_id": made["id"].upper(), "value": 10, "currency": "USD"},
                None,
            ),
            ("consult_started", "2026-03-02 08:00:00", {"utm_campaign": name}, "pending"),
            # not this campaign's: another name, another case, a duplicate, text that is not JSON
            (
                "purchase_completed",
                "2026-03-01 11:00:00",
                {"utm_campaign": "DIS_US_META_2026_Other", "order_revenue": 999},
                None,
            ),
            (
                "purchase_completed",
                "2026-03-01 12:00:00",
                {"utm_campaign": name.lower(), "order_revenue": 999},
                None,
            ),
            (
                "purchase_completed",
                "2026-03-01 13:00:00",
                {"utm_campaign": name, "order_revenue": 999},
                "duplicate",
            ),
            ("purchase_completed", "2026-03-01 14:00:00", "{not json " + name, None),
            (
                "purchase_completed",
                "2026-03-01 15:00:00",
                {"utm_campaign": name, "order_revenue": "lots", "currency": "USD"},
                None,
            ),
        ],
    )
    response = await client.get(f"/api/v1/campaigns/{made['id']}/performance")
    assert response.status_code == 200, response.text
    body = response.json()
    rows = [
        (r["day"], r["event_type"], r["currency"], r["conversions"], r["revenue"])
        for r in body["rows"]
    ]
    assert rows == [
        ("2026-03-01", "purchase_completed", "USD", 3, 100.0),
        ("2026-03-02", "consult_started", None, 1, 0.0),
        ("2026-03-02", "purchase_completed", "USD", 1, 10.0),
    ]
    assert body["conversions"] == 5
    assert body["revenue"] == {"USD": 110.0, "": 0.0}
    assert body["utm_campaign"] == sorted([name, deployed])
    window = await client.get(
        f"/api/v1/campaigns/{made['id']}/performance",
        params={"since": "2026-03-02T00:00:00Z", "until": "2026-03-02T05:00:00Z"},
    )
    assert [r["conversions"] for r in window.json()["rows"]] == [1]
    assert (await client.get("/api/v1/campaigns/nope/performance")).status_code == 404


async def test_a_case_insensitive_taxonomy_matches_utm_campaign_in_any_case(
    app: Any, client: httpx.AsyncClient
) -> None:
    data = await master_data(client)
    made = await campaign(client, data)
    spec = app.state.taxonomy.spec.model_copy(update={"case_sensitive": False})
    app.state.taxonomy = Taxonomy(spec)
    name = made["name"]
    await _events(
        app,
        [
            ("purchase_completed", "2026-03-01 10:00:00", {"utm_campaign": name.lower()}, None),
            ("purchase_completed", "2026-03-01 11:00:00", {"utm_campaign": name.upper()}, None),
            ("purchase_completed", "2026-03-01 12:00:00", {"utm_campaign": name + "X"}, None),
        ],
    )
    body = (await client.get(f"/api/v1/campaigns/{made['id']}/performance")).json()
    assert body["case_sensitive"] is False
    assert body["conversions"] == 2
