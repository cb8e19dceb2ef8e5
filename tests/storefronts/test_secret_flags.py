"""A stored secret is never returned, whatever the master data says; whether a shipped
platform's field is secret cannot be changed through the API."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from sqlalchemy import select, update

from omnirelay.models import AdAnalyticsPlatform
from omnirelay.security import MASK
from tests.delivery.helpers import PLATFORM_CREDENTIALS, add_platform, add_storefront

TOKEN = PLATFORM_CREDENTIALS["meta"]["access_token"]


async def test_a_shipped_platform_keeps_its_secret_flags(client: httpx.AsyncClient) -> None:
    await add_storefront(client)
    credential = await add_platform(client, "meta")
    meta = (await client.get("/admin/v1/platforms/meta")).json()
    fields = [
        dict(f, secret=False) if f["name"] == "access_token" else f
        for f in meta["credential_fields"]
    ]
    answer = await client.patch("/admin/v1/platforms/meta", json={"credential_fields": fields})
    assert answer.status_code == 422
    index = [f["name"] for f in fields].index("access_token")
    assert answer.json()["detail"] == [
        {
            "field": f"credential_fields.{index}.secret",
            "reason": "whether 'access_token' is secret is fixed for 'meta' (secret: true)",
        }
    ]
    shown = (await client.get(f"/admin/v1/credentials/{credential['id']}")).json()
    assert shown["credentials"]["access_token"] == MASK


async def test_master_data_edited_in_the_database_does_not_reveal_a_secret(
    client: httpx.AsyncClient, sessionmaker: Any
) -> None:
    await add_storefront(client)
    credential = await add_platform(client, "meta")
    meta = AdAnalyticsPlatform.platform_code == "meta"
    async with sessionmaker() as session:
        shipped = (
            await session.execute(select(AdAnalyticsPlatform.credential_fields).where(meta))
        ).scalar_one()
    edited = [dict(f, secret=False) for f in shipped]  # every field "not secret"
    try:
        async with sessionmaker() as session, session.begin():
            await session.execute(
                update(AdAnalyticsPlatform).where(meta).values(credential_fields=edited)
            )
        body = (await client.get(f"/admin/v1/credentials/{credential['id']}")).text
        assert TOKEN not in body and orjson.loads(body)["credentials"]["access_token"] == MASK
    finally:  # the master data is shared by the tests that follow
        async with sessionmaker() as session, session.begin():
            await session.execute(
                update(AdAnalyticsPlatform).where(meta).values(credential_fields=shipped)
            )


async def test_a_secret_field_of_an_added_platform_stays_secret(client: httpx.AsyncClient) -> None:
    try:
        await _secret_field_of_an_added_platform_stays_secret(client)
    finally:  # the platform table is shared by the tests that follow
        await client.delete("/admin/v1/platforms/acme_capi")


async def _secret_field_of_an_added_platform_stays_secret(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/admin/v1/platforms",
        json={
            "platform_code": "acme_capi",
            "name": "Acme",
            "category": "ads",
            "auth_type": "api_key",
            "credential_fields": [{"name": "api_key", "label": "Key", "secret": True}],
            "docs_url": "https://docs.acme.example/capi",
        },
    )
    assert created.status_code == 201, created.text
    answer = await client.patch(
        "/admin/v1/platforms/acme_capi",
        json={"credential_fields": [{"name": "api_key", "label": "Key", "secret": False}]},
    )
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["reason"] == (
        "'api_key' is secret and stays secret (its stored values are never shown)"
    )
    made_secret = await client.patch(
        "/admin/v1/platforms/acme_capi",
        json={
            "credential_fields": [
                {"name": "api_key", "label": "Key", "secret": True},
                {"name": "region", "label": "Region", "secret": False, "required": False},
            ]
        },
    )
    assert made_secret.status_code == 200, made_secret.text
