"""Seed-shaped test data."""

from __future__ import annotations

from typing import Any

SAMPLE_BATCH: dict[str, Any] = {
    "count": 4000,
    "data": [
        {
            "t-value": "bosleyaffiliate_0123",
            "storefront_id": "bosley",
            "event_name": "consult_started",
            "event_time": "2026-01-15T10:15:00Z",
            "order_id": "2025010100001111",
            "session_id": "sess_123",
            "utm_source": "facebook",
            "utm_medium": "cpc",
            "utm_campaign": "bosley_q1",
        },
        {
            "t-value": "pfizeraffiliate_0123",
            "storefront_id": "pfizer",
            "event_name": "rx_issued",
            "event_time": "2026-01-15T10:20:30Z",
            "order_id": "2025010100002222",
            "session_id": "sess_789",
            "utm_source": "google",
            "utm_medium": "cpc",
            "utm_campaign": "pfizer_q1",
        },
        {
            "t-value": "bosleyaffiliate_0123",
            "storefront_id": "bosley",
            "event_name": "purchase_completed",
            "event_time": "2026-01-15T10:25:00Z",
            "order_id": "2025020100003333",
            "order_created_date": "2026-01-15T10:25:00Z",
            "order_ship_date": "2026-01-15T10:25:00Z",
            "order_revenue": 80.79,
            "session_id": "sess_456",
            "utm_source": "google",
            "utm_medium": "organic",
            "utm_campaign": "bosley_q1",
        },
    ],
    "error": "",
    "next_index": 1000,
    "next_url": "...",
    "previous_index": "",
    "previous_url": "",
}


def envelope(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "count": len(items),
        "data": items,
        "error": "",
        "next_index": "",
        "next_url": "",
        "previous_index": "",
        "previous_url": "",
    }


def order_event(
    n: int, *, storefront: str = "bosley", event_name: str = "purchase_completed", **extra: Any
) -> dict[str, Any]:
    return {
        "t-value": f"{storefront}affiliate_0123",
        "storefront_id": storefront,
        "event_name": event_name,
        "event_time": extra.pop("event_time", "2026-01-15T10:25:00Z"),
        "order_id": f"20250201{n:08d}",
        "order_revenue": 80.79,
        "currency": "USD",
        "session_id": f"sess_{n}",
        "utm_source": "google",
        "utm_medium": "cpc",
        "utm_campaign": f"{storefront}_q1",
        **extra,
    }


async def create_storefronts(client: Any, *codes: str) -> dict[str, int]:
    ids = {}
    for code in codes:
        response = await client.post(
            "/admin/v1/storefronts",
            json={"storefront_id": code, "name": code.title(), "is_active": True},
        )
        assert response.status_code == 201, response.text
        ids[code] = response.json()["id"]
    return ids


async def store_as_before_the_url_rules(
    app: Any,
    *,
    credential_id: int | None = None,
    credentials: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
    sgtm_config_id: int | None = None,
    sgtm_url: str | None = None,
) -> None:
    """Write configuration the admin API now refuses (a URL with user info) straight into
    the database, as a row stored before the rule, or by another system, would hold it."""
    from sqlalchemy import update

    from omnirelay.models import PlatformCredential, SgtmConfig

    async with app.state.sessionmaker() as session, session.begin():
        if credential_id is not None:
            values: dict[str, Any] = {}
            if credentials is not None:
                values["credentials_encrypted"] = app.state.vault.encrypt(credentials)
            if settings is not None:
                values["settings"] = settings
            await session.execute(
                update(PlatformCredential)
                .where(PlatformCredential.id == credential_id)
                .values(values)
            )
        if sgtm_config_id is not None:
            await session.execute(
                update(SgtmConfig).where(SgtmConfig.id == sgtm_config_id).values(sgtm_url=sgtm_url)
            )
