"""Brand credentials in the vault (write-only secrets, masked, base_url checked) and the
scopes: trafficking writes, read reads, an ingest key does neither."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from omnirelay.security import MASK
from omnirelay.trafficking.credentials import credentials_for
from tests.trafficking.helpers import campaign, created, master_data


async def test_credentials_are_encrypted_write_only_and_masked(
    app: Any, client: httpx.AsyncClient
) -> None:
    data = await master_data(client)
    body = {
        "brand_id": data["brand"]["id"],
        "platform": "meta",
        "account_id": "act_1234",
        "access_token": "EAAB-secret-token",
        "secrets": {"app_secret": "shh"},
        "base_url": "http://127.0.0.1:8090/meta",
    }
    made = await created(client, "/api/v1/credentials", body)
    assert (made["platform"], made["account_id"], made["access_token"]) == (
        "META",
        "act_1234",
        MASK,
    )
    assert made["secrets"] == {"app_secret": MASK} and made["market_id"] is None
    listed = (await client.get("/api/v1/credentials", params={"platform": "meta"})).text
    assert "EAAB-secret-token" not in listed and "shh" not in listed
    async with app.state.sessionmaker() as session:
        from sqlalchemy import text

        stored = (
            await session.execute(text("SELECT settings_encrypted FROM trafficking_credentials"))
        ).scalar_one()
        assert "EAAB" not in stored
    duplicate = await client.post("/api/v1/credentials", json=body)
    assert duplicate.status_code == 409
    market = await created(
        client,
        "/api/v1/credentials",
        body | {"market_id": data["market"]["id"], "access_token": "market-token"},
    )
    async with app.state.sessionmaker() as session:
        values = await credentials_for(
            session,
            app.state.vault,
            uuid.UUID(data["brand"]["id"]),
            uuid.UUID(data["market"]["id"]),
            "META",
        )
        assert values is not None and values["access_token"] == "market-token"
        other = await credentials_for(
            session, app.state.vault, uuid.UUID(data["brand"]["id"]), uuid.uuid4(), "meta"
        )
        assert other is not None and other["access_token"] == "EAAB-secret-token"
        assert (
            await credentials_for(
                session, app.state.vault, uuid.UUID(data["brand"]["id"]), uuid.uuid4(), "TIKTOK"
            )
            is None
        )
    updated = await client.put(
        f"/api/v1/credentials/{market['id']}",
        json={"secrets": {"refresh_token": "r"}, "is_active": False},
    )
    assert updated.json()["secrets"] == {"app_secret": MASK, "refresh_token": MASK}
    async with app.state.sessionmaker() as session:
        values = await credentials_for(
            session,
            app.state.vault,
            uuid.UUID(data["brand"]["id"]),
            uuid.UUID(data["market"]["id"]),
            "META",
        )
        assert (
            values is not None and values["access_token"] == "EAAB-secret-token"
        )  # the inactive one is passed over
    referenced = await client.delete(f"/api/v1/brands/{data['brand']['id']}")
    assert (
        referenced.status_code == 409 and "trafficking credentials" in referenced.json()["detail"]
    )
    assert (await client.delete(f"/api/v1/credentials/{market['id']}")).status_code == 204


async def test_a_private_base_url_is_refused(client: httpx.AsyncClient) -> None:
    data = await master_data(client)
    body = {
        "brand_id": data["brand"]["id"],
        "platform": "META",
        "account_id": "1",
        "access_token": "t",
    }
    for url in ("http://10.0.0.5/x", "http://169.254.169.254/", "not a url"):
        response = await client.post("/api/v1/credentials", json=body | {"base_url": url})
        assert response.status_code == 422, url
        assert response.json()["detail"][0]["field"] == "base_url"
    unknown = await client.post("/api/v1/credentials", json=body | {"brand_id": str(uuid.uuid4())})
    assert unknown.status_code == 422


async def _key(client: httpx.AsyncClient, *scopes: str) -> tuple[str, str]:
    made = (await client.post("/admin/v1/keys", json={"name": "k", "scopes": list(scopes)})).json()
    return made["key_id"], made["secret"]


async def test_scopes(app: Any, client: httpx.AsyncClient) -> None:
    data = await master_data(client)
    made = await campaign(client, data)
    keys = {
        scope: await _key(client, scope) for scope in ("ingest", "read", "trafficking", "admin")
    }
    transport = httpx.ASGITransport(app=app)

    async def call(scope: str, method: str, path: str, body: Any = None) -> int:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://omnirelay", auth=keys[scope]
        ) as http:
            return (await http.request(method, path, json=body)).status_code

    brand = {"name": "Acme", "internal_code": "ACME"}
    assert await call("ingest", "GET", "/api/v1/campaigns") == 403
    assert await call("ingest", "POST", "/api/v1/brands", brand) == 403
    assert await call("read", "GET", "/api/v1/campaigns") == 200
    assert await call("read", "GET", f"/api/v1/campaigns/{made['id']}/performance") == 200
    assert await call("read", "POST", "/api/v1/taxonomy/parse", {"name": "x"}) == 200
    assert await call("read", "POST", "/api/v1/brands", brand) == 403
    assert await call("trafficking", "POST", "/api/v1/brands", brand) == 201
    assert await call("trafficking", "GET", "/api/v1/brands") == 200
    ticket = {"campaign_id": made["id"], "channel_id": data["meta"]["id"]}
    assert await call("read", "POST", "/api/v1/tickets", ticket) == 403
    assert await call("trafficking", "POST", "/api/v1/tickets", ticket) == 201
    assert await call("trafficking", "GET", "/api/v1/credentials") == 403
    assert await call("admin", "GET", "/api/v1/credentials") == 200
    assert await call("admin", "POST", "/api/v1/markets", {"code": "X", "country": "X"}) == 403
    history = (await client.get("/api/v1/tickets", params={"campaign_id": made["id"]})).json()
    ticket_id = history["items"][0]["id"]
    steps = (await client.get(f"/api/v1/tickets/{ticket_id}/history")).json()["items"]
    assert steps[0]["changed_by"] == f"key {keys['trafficking'][0]} (k)"


def test_the_keys_command_accepts_the_trafficking_scope() -> None:
    from omnirelay.keys.schemas import KeyCreate

    assert KeyCreate(name="t", scopes=["trafficking"]).scopes == ["trafficking"]


async def test_rotation_reencrypts_brand_credentials(app: Any, client: httpx.AsyncClient) -> None:
    from cryptography.fernet import Fernet

    from omnirelay.security import Vault
    from omnirelay.trafficking.credentials import reencrypt
    from tests.conftest import TEST_KEY

    data = await master_data(client)
    body = {
        "brand_id": data["brand"]["id"],
        "platform": "META",
        "account_id": "1",
        "access_token": "tok",
    }
    await created(client, "/api/v1/credentials", body)
    new_key = Fernet.generate_key().decode()
    async with app.state.sessionmaker() as session, session.begin():
        assert await reencrypt(session, Vault([new_key, TEST_KEY])) == 1
    async with app.state.sessionmaker() as session:
        values = await credentials_for(
            session, Vault([new_key]), uuid.UUID(data["brand"]["id"]), uuid.uuid4(), "META"
        )
    assert values is not None and values["access_token"] == "tok"
