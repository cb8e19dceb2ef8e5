"""Trafficking test data made through the API."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from omnirelay.trafficking import qa
from omnirelay.trafficking.translators.base import Translator


@contextmanager
def registered(translator: Translator) -> Iterator[Translator]:
    """``translator`` registered for QA during the block, the one it replaced put back."""
    previous = qa.translator_for(translator.platform)
    qa.register_translator(translator)
    try:
        yield translator
    finally:
        if previous is None:
            qa.unregister_translator(translator.platform)
        else:
            qa.register_translator(previous)


async def created(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(path, json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def master_data(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """A brand DIS, a market US (USD), channels META and TIKTOK."""
    return {
        "brand": await created(
            client, "/api/v1/brands", {"name": "Disney", "internal_code": "dis"}
        ),
        "market": await created(
            client,
            "/api/v1/markets",
            {"code": "us", "country": "United States", "region": "NA", "currency": "usd"},
        ),
        "meta": await created(
            client,
            "/api/v1/channels",
            {"platform_name": "meta", "api_identifier": "meta_marketing_api"},
        ),
        "tiktok": await created(
            client,
            "/api/v1/channels",
            {"platform_name": "TikTok", "api_identifier": "tiktok_business_api"},
        ),
    }


async def campaign(
    client: httpx.AsyncClient, data: dict[str, dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    body = {
        "campaign_name": "Moana Launch",
        "brand_id": data["brand"]["id"],
        "market_id": data["market"]["id"],
        "budget": "5000.00",
        "year": 2026,
    } | extra
    return await created(client, "/api/v1/campaigns", body)
