"""Shared set-up for delivery tests: storefronts wired to the in-process sandbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from omnirelay.models import Delivery, DeliveryAttempt, MarketingEvent
from tests.factories import envelope

SANDBOX_BASE = "http://sandbox"
PLATFORM_CREDENTIALS: dict[str, dict[str, str]] = {
    "meta": {"pixel_id": "1234567890", "access_token": "meta-secret-token"},
    "ga4": {"measurement_id": "G-TEST12345", "api_secret": "ga4-secret-value"},
    "tiktok": {"pixel_code": "CTEST1234567890", "access_token": "tiktok-secret-token"},
    "snapchat": {"pixel_id": "snap-pixel-1", "access_token": "snap-secret-token"},
    "pinterest": {"ad_account_id": "549755885175", "access_token": "pinterest-secret-token"},
}


def recent(minutes: int = 5) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def customer_event(
    n: int, *, storefront: str = "bosley", event_name: str = "purchase_completed", **extra: Any
) -> dict[str, Any]:
    """A recent order event with the customer data the platforms match on."""
    return {
        "t-value": f"{storefront}affiliate_0123",
        "storefront_id": storefront,
        "event_name": event_name,
        "event_time": recent(),
        "order_id": f"ORD{n:08d}",
        "order_revenue": 80.79,
        "currency": "USD",
        "session_id": f"sess_{n}",
        "utm_source": "google",
        "utm_medium": "cpc",
        "utm_campaign": f"{storefront}_q1",
        "email": f"Customer{n}@Example.com",
        "phone": "+1 (650) 555-1234",
        "external_id": f"cust-{n}",
        "client_ip_address": "203.0.113.9",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
        "page_url": "https://shop.example.com/checkout",
        "first_name": "Jane",
        "last_name": "Doe",
        "city": "Palo Alto",
        "state": "CA",
        "zip": "94301",
        "country": "US",
        **extra,
    }


async def add_storefront(client: httpx.AsyncClient, code: str = "bosley") -> int:
    response = await client.post(
        "/admin/v1/storefronts", json={"storefront_id": code, "name": code, "is_active": True}
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def add_platform(
    client: httpx.AsyncClient, platform: str, storefront: str = "bosley", **fields: Any
) -> dict[str, Any]:
    body = {
        "storefront_id": storefront,
        "platform_code": platform,
        "credentials": PLATFORM_CREDENTIALS[platform],
        "settings": {"base_url": f"{SANDBOX_BASE}/{platform}"} | fields.pop("settings", {}),
        **fields,
    }
    response = await client.post("/admin/v1/credentials", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def post_events(client: httpx.AsyncClient, items: list[dict[str, Any]]) -> None:
    response = await client.post("/v1/events", json=envelope(items))
    assert response.status_code == 200 and response.json()["accepted"] == len(items), response.text


async def deliveries(sessionmaker: Any) -> list[Delivery]:
    async with sessionmaker() as session:
        return list((await session.execute(select(Delivery).order_by(Delivery.id))).scalars())


async def attempts(sessionmaker: Any) -> list[DeliveryAttempt]:
    async with sessionmaker() as session:
        return list(
            (await session.execute(select(DeliveryAttempt).order_by(DeliveryAttempt.id))).scalars()
        )


async def events(sessionmaker: Any) -> list[MarketingEvent]:
    async with sessionmaker() as session:
        return list(
            (await session.execute(select(MarketingEvent).order_by(MarketingEvent.id))).scalars()
        )


async def make_all_due(sessionmaker: Any) -> None:
    """Skip the backoff wait: every waiting delivery becomes due now."""
    async with sessionmaker() as session, session.begin():
        await session.execute(
            update(Delivery)
            .where(Delivery.status == "pending")
            .values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1))
        )
