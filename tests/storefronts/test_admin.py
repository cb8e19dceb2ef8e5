"""The admin API (/admin/v1) as an operator uses it: storefronts, sGTM configs, platforms and
platform credentials, with the validation, secrecy and kill switches the seed asks for."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnirelay.models import AdAnalyticsPlatform, PlatformCredential, SgtmConfig
from omnirelay.security import Vault, VaultError
from omnirelay.storefronts.service import reencrypt_secrets
from tests.factories import create_storefronts, envelope, order_event

MASK = "********"
META_TOKEN = "EAAB-meta-access-token-do-not-leak"
META_CREDENTIALS = {"pixel_id": "1234567890", "access_token": META_TOKEN}
GA4_SECRET = "sgtm-api-secret-do-not-leak"
HEADER_KEY = "x-api-key-value-do-not-leak"


def assert_error(response: httpx.Response, status: int, code: str) -> Any:
    """The one error shape: {"error": code, "detail": ...} with the expected status."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "detail"}, body
    assert body["error"] == code, body
    return body["detail"]


def error_fields(response: httpx.Response) -> set[str]:
    detail = assert_error(response, 422, "validation_error")
    assert isinstance(detail, list) and detail, detail
    return {problem["field"] for problem in detail}


def assert_no_secret(response: httpx.Response, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in response.text, f"secret leaked in {response.request.url}"


async def make_sgtm(client: httpx.AsyncClient, storefront: str | int, **fields: Any) -> Any:
    body = {
        "storefront_id": storefront,
        "sgtm_url": "https://tags.upscript.com",
        "client_type": "ga4",
        "measurement_id": "G-TEST123",
        "api_secret": GA4_SECRET,
    } | fields
    response = await client.post("/admin/v1/sgtm-configs", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def make_credential(
    client: httpx.AsyncClient,
    storefront: str | int,
    platform_code: str = "meta",
    credentials: dict[str, Any] | None = None,
    **fields: Any,
) -> Any:
    body = {
        "storefront_id": storefront,
        "platform_code": platform_code,
        "credentials": credentials if credentials is not None else META_CREDENTIALS,
    } | fields
    response = await client.post("/admin/v1/credentials", json=body)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
async def new_platform_code(
    db_url: str, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[Any]:
    """Unique codes for platforms a test creates; the rows are removed afterwards, because
    the per-test cleanup keeps the platform master data."""
    codes: list[str] = []

    def new(prefix: str = "acme") -> str:
        code = f"{prefix}_{uuid.uuid4().hex[:10]}"
        codes.append(code)
        return code

    yield new
    async with sessionmaker() as session:
        for code in codes:
            platform_id = (
                await session.execute(
                    select(AdAnalyticsPlatform.id).where(AdAnalyticsPlatform.platform_code == code)
                )
            ).scalar_one_or_none()
            if platform_id is not None:
                await session.execute(
                    text("DELETE FROM platform_credentials WHERE platform_id = :p").bindparams(
                        p=platform_id
                    )
                )
                await session.execute(
                    text("DELETE FROM ad_analytics_platforms WHERE id = :p").bindparams(
                        p=platform_id
                    )
                )
        await session.commit()


# ---- authentication ----------------------------------------------------------------------


async def test_admin_api_requires_basic_auth(app: Any) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://omnirelay"
    ) as anonymous:
        for method, path in (
            ("GET", "/admin/v1/storefronts"),
            ("POST", "/admin/v1/storefronts"),
            ("GET", "/admin/v1/platforms"),
            ("GET", "/admin/v1/sgtm-configs"),
            ("GET", "/admin/v1/credentials"),
            ("DELETE", "/admin/v1/storefronts/bosley"),
        ):
            response = await anonymous.request(method, path)
            assert_error(response, 401, "unauthorized")
            assert response.headers["www-authenticate"].startswith("Basic")
        wrong = await anonymous.get("/admin/v1/storefronts", auth=("admin", "wrong"))
        assert_error(wrong, 401, "unauthorized")


# ---- storefronts -------------------------------------------------------------------------


async def test_storefront_create_read_update_delete_by_id_and_code(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/admin/v1/storefronts",
        json={"storefront_id": "bosley", "name": "Bosley", "is_active": True},
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["storefront_id"] == "bosley"
    assert created["name"] == "Bosley"
    assert created["is_active"] is True
    assert isinstance(created["id"], int)
    assert created["created_at"].endswith(("Z", "+00:00"))

    by_id = await client.get(f"/admin/v1/storefronts/{created['id']}")
    by_code = await client.get("/admin/v1/storefronts/bosley")
    assert by_id.status_code == by_code.status_code == 200
    assert by_id.json() == by_code.json() == created

    patched = await client.patch(
        "/admin/v1/storefronts/bosley", json={"name": "Bosley Hair", "is_active": False}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "Bosley Hair"
    assert patched.json()["is_active"] is False
    assert patched.json()["updated_at"] >= created["updated_at"]
    assert (await client.get(f"/admin/v1/storefronts/{created['id']}")).json() == patched.json()

    renamed = await client.patch(
        f"/admin/v1/storefronts/{created['id']}", json={"storefront_id": "bosley_us"}
    )
    assert renamed.status_code == 200 and renamed.json()["storefront_id"] == "bosley_us"
    assert_error(await client.get("/admin/v1/storefronts/bosley"), 404, "not_found")

    deleted = await client.delete("/admin/v1/storefronts/bosley_us")
    assert deleted.status_code == 204 and deleted.content == b""
    assert_error(await client.get(f"/admin/v1/storefronts/{created['id']}"), 404, "not_found")
    assert_error(await client.delete("/admin/v1/storefronts/bosley_us"), 404, "not_found")


async def test_storefront_is_active_defaults_to_true(client: httpx.AsyncClient) -> None:
    response = await client.post("/admin/v1/storefronts", json={"storefront_id": "a", "name": "A"})
    assert response.status_code == 201 and response.json()["is_active"] is True


async def test_duplicate_storefront_code_is_409(client: httpx.AsyncClient) -> None:
    await create_storefronts(client, "bosley", "pfizer")
    again = await client.post(
        "/admin/v1/storefronts", json={"storefront_id": "bosley", "name": "Other"}
    )
    assert "bosley" in assert_error(again, 409, "conflict")
    rename = await client.patch("/admin/v1/storefronts/pfizer", json={"storefront_id": "bosley"})
    assert_error(rename, 409, "conflict")
    # renaming to its own code is not a conflict
    same = await client.patch("/admin/v1/storefronts/pfizer", json={"storefront_id": "pfizer"})
    assert same.status_code == 200


async def test_storefront_validation_names_the_field(client: httpx.AsyncClient) -> None:
    post = "/admin/v1/storefronts"
    assert "name" in error_fields(await client.post(post, json={"storefront_id": "x"}))
    assert "storefront_id" in error_fields(await client.post(post, json={"name": "X"}))
    assert "storefront_id" in error_fields(
        await client.post(post, json={"storefront_id": "has space", "name": "X"})
    )
    assert "storefront_id" in error_fields(
        await client.post(post, json={"storefront_id": "x" * 51, "name": "X"})
    )
    assert "name" in error_fields(
        await client.post(post, json={"storefront_id": "x", "name": "n" * 256})
    )
    assert "is_active" in error_fields(
        await client.post(post, json={"storefront_id": "x", "name": "X", "is_active": "maybe"})
    )
    assert "code" in error_fields(
        await client.post(post, json={"storefront_id": "x", "name": "X", "code": "y"})
    )
    not_json = await client.post(
        post, content=b"{oops", headers={"content-type": "application/json"}
    )
    assert_error(not_json, 422, "validation_error")
    assert_error(await client.post(post, json=["x"]), 422, "validation_error")
    await create_storefronts(client, "bosley")
    assert "name" in error_fields(
        await client.patch("/admin/v1/storefronts/bosley", json={"name": ""})
    )
    assert_error(
        await client.patch("/admin/v1/storefronts/nowhere", json={"name": "X"}), 404, "not_found"
    )
    listed = (await client.get("/admin/v1/storefronts")).json()
    assert [s["storefront_id"] for s in listed["items"]] == ["bosley"]


async def test_storefront_list_is_paginated_and_filtered(client: httpx.AsyncClient) -> None:
    codes = ["alpha", "bravo", "charlie", "delta_x", "deltaxx"]
    await create_storefronts(client, *codes)
    await client.patch("/admin/v1/storefronts/bravo", json={"is_active": False})
    await client.patch("/admin/v1/storefronts/charlie", json={"name": "Pfizer Charlie"})

    pages = []
    for offset in (0, 2, 4, 6):
        response = await client.get("/admin/v1/storefronts", params={"limit": 2, "offset": offset})
        assert response.status_code == 200
        body = response.json()
        assert (body["total"], body["limit"], body["offset"]) == (5, 2, offset)
        pages.append([s["storefront_id"] for s in body["items"]])
    assert pages == [["alpha", "bravo"], ["charlie", "delta_x"], ["deltaxx"], []]

    async def codes_for(**params: Any) -> tuple[list[str], int]:
        body = (await client.get("/admin/v1/storefronts", params=params)).json()
        return [s["storefront_id"] for s in body["items"]], body["total"]

    assert await codes_for(is_active="false") == (["bravo"], 1)
    assert await codes_for(is_active="true") == (["alpha", "charlie", "delta_x", "deltaxx"], 4)
    assert await codes_for(q="PFIZER") == (["charlie"], 1)  # name, case-insensitive
    assert await codes_for(q="lph") == (["alpha"], 1)  # code
    # "_" is a literal underscore, not a LIKE wildcard
    assert await codes_for(q="delta_") == (["delta_x"], 1)
    assert await codes_for(q="%") == ([], 0)
    assert await codes_for(q="delta", is_active="true", limit=1) == (["delta_x"], 2)

    assert "limit" in error_fields(await client.get("/admin/v1/storefronts?limit=0"))
    assert "limit" in error_fields(await client.get("/admin/v1/storefronts?limit=1001"))
    assert "offset" in error_fields(await client.get("/admin/v1/storefronts?offset=-1"))
    assert "is_active" in error_fields(await client.get("/admin/v1/storefronts?is_active=perhaps"))


async def test_a_numeric_storefront_code_is_addressable(client: httpx.AsyncClient) -> None:
    ids = await create_storefronts(client, "987654321")
    by_code = await client.get("/admin/v1/storefronts/987654321")
    assert by_code.status_code == 200, by_code.text
    assert by_code.json()["id"] == ids["987654321"]
    config = await make_sgtm(client, "987654321")
    assert config["storefront_id"] == ids["987654321"]


async def test_unknown_or_absurd_ids_are_404_never_500(client: httpx.AsyncClient) -> None:
    huge = "9" * 30
    beyond_int = "9" * 5000  # more digits than int() converts
    for path in (
        "/admin/v1/storefronts/999999",
        "/admin/v1/storefronts/nowhere",
        f"/admin/v1/storefronts/{huge}",
        f"/admin/v1/storefronts/{beyond_int}",
        f"/admin/v1/platforms/{beyond_int}",
        "/admin/v1/storefronts/%C2%B2",  # "²" is a digit to str.isdigit, not to int()
        "/admin/v1/sgtm-configs/999999",
        f"/admin/v1/sgtm-configs/{2**40}",  # beyond the 32-bit ids, within 64 bits
        "/admin/v1/sgtm-configs/0",
        "/admin/v1/platforms/999999",
        "/admin/v1/platforms/no_such_platform",
        f"/admin/v1/platforms/{huge}",
        "/admin/v1/credentials/999999",
        f"/admin/v1/credentials/{2**40}",
    ):
        for method in ("GET", "DELETE"):
            response = await client.request(method, path)
            assert_error(response, 404, "not_found")
        response = await client.patch(path, json={"is_active": False})
        assert_error(response, 404, "not_found")
    assert "config_id" in error_fields(await client.get("/admin/v1/sgtm-configs/abc"))
    assert "offset" in error_fields(await client.get(f"/admin/v1/storefronts?offset={huge}"))


BEYOND_64_BITS = (2**63, -(2**63) - 1, 2**80)


async def test_integers_beyond_64_bits_are_422_naming_the_field(
    client: httpx.AsyncClient,
) -> None:
    await create_storefronts(client, "bosley")
    for number in BEYOND_64_BITS:
        for resource, field in (("sgtm-configs", "config_id"), ("credentials", "credential_id")):
            for method in ("GET", "PATCH", "DELETE"):
                response = await client.request(
                    method,
                    f"/admin/v1/{resource}/{number}",
                    json={"is_active": False} if method == "PATCH" else None,
                )
                assert error_fields(response) == {field}, (method, resource, response.text)
        for resource in ("storefronts", "sgtm-configs", "platforms", "credentials"):
            for param in ("offset", "limit"):
                response = await client.get(f"/admin/v1/{resource}?{param}={number}")
                assert error_fields(response) == {param}, (resource, param, response.text)
        sgtm = await client.post(
            "/admin/v1/sgtm-configs",
            json={
                "storefront_id": number,
                "sgtm_url": "https://t.example",
                "client_type": "custom",
            },
        )
        assert error_fields(sgtm) == {"storefront_id"}, sgtm.text
        for change in ({"storefront_id": number}, {"platform_code": None, "platform_id": number}):
            body = {"storefront_id": "bosley", "platform_code": "meta"} | change
            response = await client.post(
                "/admin/v1/credentials", json=body | {"credentials": META_CREDENTIALS}
            )
            assert error_fields(response) == {next(iter(change.keys() - {"platform_code"}))}, (
                response.text
            )
    # the largest offset the databases take is answered, with nothing in it
    for resource in ("storefronts", "sgtm-configs", "platforms", "credentials"):
        page = await client.get(f"/admin/v1/{resource}?offset={2**63 - 1}")
        assert page.status_code == 200, page.text
        assert page.json()["items"] == [] and page.json()["offset"] == 2**63 - 1


def nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(depth - 1):
        value = [value]
    return value


async def test_credential_values_and_settings_must_be_storable_json(
    client: httpx.AsyncClient,
) -> None:
    await create_storefronts(client, "bosley")
    good = {"storefront_id": "bosley", "platform_code": "meta", "credentials": META_CREDENTIALS}

    async def refused(body: dict[str, Any], path: str = "/admin/v1/credentials") -> set[str]:
        method = "POST" if path == "/admin/v1/credentials" else "PATCH"
        response = await client.request(method, path, json=body)
        assert_no_secret(response, META_TOKEN)
        return error_fields(response)

    cases = [
        ({"credentials": META_CREDENTIALS | {"pixel_id": 2**80}}, "credentials.pixel_id"),
        ({"credentials": META_CREDENTIALS | {"pixel_id": -(2**63) - 1}}, "credentials.pixel_id"),
        ({"credentials": META_CREDENTIALS | {"pixel_id": nested(300)}}, "credentials.pixel_id"),
        ({"settings": {"api_version": 2**80}}, "settings.api_version"),
        ({"settings": {"extra": {"ids": [1, 2**64]}}}, "settings.extra.ids.1"),
        ({"settings": {"extra": nested(300)}}, "settings.extra"),
    ]
    for change, field in cases:
        assert field in await refused(good | change), change
    assert (await client.get("/admin/v1/credentials")).json()["total"] == 0

    # numbers Python's JSON reader takes but JSON cannot carry, and nesting it cannot read
    for literal, field in (
        (b"NaN", "settings.x"),
        (b"Infinity", "settings.x"),
        (b"1e400", "settings.x"),
        (b"[" * 1000 + b"]" * 1000, "body"),
    ):
        body = b'{"storefront_id": "bosley", "platform_code": "meta", "credentials": '
        body += b'{"pixel_id": "1", "access_token": "t"}, "settings": {"x": ' + literal + b"}}"
        response = await client.post(
            "/admin/v1/credentials", content=body, headers={"content-type": "application/json"}
        )
        assert error_fields(response) == {field}, (literal, response.text)

    credential = await make_credential(client, "bosley")
    url = f"/admin/v1/credentials/{credential['id']}"
    for change, field in cases:
        assert field in await refused(change, url), change
    unchanged = await client.get(url)
    assert unchanged.json()["credentials"] == {"pixel_id": "1234567890", "access_token": MASK}
    assert unchanged.json()["settings"] is None
    # deep enough for any real configuration
    accepted = await client.patch(url, json={"settings": {"extra": nested(60, 2**63 - 1)}})
    assert accepted.status_code == 200, accepted.text


async def test_header_names_and_values_are_checked_when_configured(
    client: httpx.AsyncClient,
) -> None:
    await create_storefronts(client, "bosley", "pfizer")
    bad_headers = [
        ({"X-A": "ümlaut"}, "X-A"),
        ({"X-A": "a\r\nX-Injected: 1"}, "X-A"),
        ({"X-A": "a\nb"}, "X-A"),
        ({"X-A": "a\u0000b"}, "X-A"),
        ({"X-A": "a\u007fb"}, "X-A"),
        ({"X A": "v"}, "X A"),
        ({"X-Ä": "v"}, "X-Ä"),
        ({"X:A": "v"}, "X:A"),
        ({"": "v"}, ""),
        ({"Content-Length": "5"}, "Content-Length"),
        ({"transfer-encoding": "chunked"}, "transfer-encoding"),
        ({"X-A": "1", "x-a": "2"}, "x-a"),
    ]
    sgtm = {"storefront_id": "bosley", "sgtm_url": "https://t.example", "client_type": "custom"}
    webhook = {"storefront_id": "pfizer", "platform_code": "webhook"}
    webhook_url = "https://hooks.example.com/in"
    for headers, name in bad_headers:
        response = await client.post(
            "/admin/v1/sgtm-configs", json=sgtm | {"custom_headers": headers}
        )
        assert error_fields(response) == {f"custom_headers.{name}"}, (headers, response.text)
        response = await client.post(
            "/admin/v1/credentials",
            json=webhook | {"credentials": {"url": webhook_url, "headers": headers}},
        )
        assert error_fields(response) == {f"credentials.headers.{name}"}, (headers, response.text)

    good = {"Authorization": "Bearer abc.DEF-123", "X-Tab": "a\tb", "X~Odd!#$%&'*+.^_`|": "v"}
    config = await client.post("/admin/v1/sgtm-configs", json=sgtm | {"custom_headers": good})
    assert config.status_code == 201, config.text
    credential = await client.post(
        "/admin/v1/credentials",
        json=webhook | {"credentials": {"url": webhook_url, "headers": good}},
    )
    assert credential.status_code == 201, credential.text
    for headers, name in bad_headers:
        response = await client.patch(
            f"/admin/v1/sgtm-configs/{config.json()['id']}", json={"custom_headers": headers}
        )
        assert error_fields(response) == {f"custom_headers.{name}"}, (headers, response.text)
        response = await client.patch(
            f"/admin/v1/credentials/{credential.json()['id']}",
            json={"credentials": {"headers": headers}},
        )
        assert error_fields(response) == {f"credentials.headers.{name}"}, (headers, response.text)


async def test_deleting_a_storefront_with_events_is_409(client: httpx.AsyncClient) -> None:
    await create_storefronts(client, "bosley")
    stored = await client.post("/v1/events", json=envelope([order_event(1)]))
    assert stored.json()["accepted"] == 1
    refused = await client.delete("/admin/v1/storefronts/bosley")
    assert "is_active" in assert_error(refused, 409, "conflict")
    assert (await client.get("/admin/v1/storefronts/bosley")).status_code == 200
    # the kill switch is the way to stop it
    off = await client.patch("/admin/v1/storefronts/bosley", json={"is_active": False})
    assert off.json()["is_active"] is False


async def test_deleting_a_storefront_takes_its_config_and_credentials(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    ids = await create_storefronts(client, "bosley", "pfizer")
    config = await make_sgtm(client, "bosley")
    credential = await make_credential(client, "bosley")
    other = await make_credential(client, "pfizer")

    assert (await client.delete(f"/admin/v1/storefronts/{ids['bosley']}")).status_code == 204
    assert_error(await client.get(f"/admin/v1/sgtm-configs/{config['id']}"), 404, "not_found")
    assert_error(await client.get(f"/admin/v1/credentials/{credential['id']}"), 404, "not_found")
    assert (await client.get(f"/admin/v1/credentials/{other['id']}")).status_code == 200
    assert (await client.get("/admin/v1/sgtm-configs")).json()["total"] == 0
    async with sessionmaker() as session:
        left = (await session.execute(select(PlatformCredential.storefront_id))).scalars().all()
    assert left == [ids["pfizer"]]


# ---- sGTM configs ------------------------------------------------------------------------


async def test_sgtm_ga4_config_api_secret_is_encrypted_and_write_only(
    client: httpx.AsyncClient, app: Any, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    ids = await create_storefronts(client, "bosley")
    response = await client.post(
        "/admin/v1/sgtm-configs",
        json={
            "storefront_id": "bosley",
            "sgtm_url": "https://tags.upscript.com",
            "client_type": "ga4",
            "measurement_id": "G-XXXXXX",
            "api_secret": GA4_SECRET,
        },
    )
    assert response.status_code == 201, response.text
    assert_no_secret(response, GA4_SECRET)
    config = response.json()
    assert config["storefront_id"] == ids["bosley"]
    assert config["sgtm_url"].rstrip("/") == "https://tags.upscript.com"
    assert (config["client_type"], config["measurement_id"]) == ("ga4", "G-XXXXXX")
    assert config["api_secret"] == MASK
    assert config["is_active"] is True

    for read in (
        await client.get(f"/admin/v1/sgtm-configs/{config['id']}"),
        await client.get("/admin/v1/sgtm-configs"),
        await client.get("/admin/v1/sgtm-configs", params={"storefront_id": "bosley"}),
    ):
        assert read.status_code == 200
        assert_no_secret(read, GA4_SECRET)
    assert (await client.get(f"/admin/v1/sgtm-configs/{config['id']}")).json() == config

    async with sessionmaker() as session:
        stored = await session.get(SgtmConfig, config["id"])
        assert stored is not None
    assert stored.api_secret_encrypted and GA4_SECRET not in stored.api_secret_encrypted
    assert app.state.vault.decrypt(stored.api_secret_encrypted) == GA4_SECRET

    # a new secret replaces the old one; null removes it
    rotated = await client.patch(
        f"/admin/v1/sgtm-configs/{config['id']}", json={"api_secret": "a-newer-secret"}
    )
    assert rotated.status_code == 200 and rotated.json()["api_secret"] == MASK
    assert_no_secret(rotated, "a-newer-secret", GA4_SECRET)
    async with sessionmaker() as session:
        stored = await session.get(SgtmConfig, config["id"])
        assert stored is not None and stored.api_secret_encrypted
        assert app.state.vault.decrypt(stored.api_secret_encrypted) == "a-newer-secret"
    cleared = await client.patch(
        f"/admin/v1/sgtm-configs/{config['id']}", json={"api_secret": None}
    )
    assert cleared.status_code == 200 and cleared.json()["api_secret"] is None
    async with sessionmaker() as session:
        stored = await session.get(SgtmConfig, config["id"])
        assert stored is not None and stored.api_secret_encrypted is None


async def test_sgtm_custom_client_headers_are_encrypted_and_masked(
    client: httpx.AsyncClient, app: Any, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await create_storefronts(client, "bosley")
    response = await client.post(
        "/admin/v1/sgtm-configs",
        json={
            "storefront_id": "bosley",
            "sgtm_url": "https://tags.upscript.com",
            "client_type": "custom",
            "custom_endpoint_path": "/collect",
            "custom_headers": {"X-Api-Key": HEADER_KEY},
            "event_types": ["Purchase_Completed", "rx_issued"],
            "event_name_map": {"purchase_completed": "purchase"},
        },
    )
    assert response.status_code == 201, response.text
    assert_no_secret(response, HEADER_KEY)
    config = response.json()
    assert config["client_type"] == "custom"
    assert config["measurement_id"] is None and config["api_secret"] is None
    assert config["custom_endpoint_path"] == "/collect"
    assert config["custom_headers"] == {"X-Api-Key": MASK}
    assert config["event_types"] == ["purchase_completed", "rx_issued"]
    assert config["event_name_map"] == {"purchase_completed": "purchase"}
    assert_no_secret(await client.get(f"/admin/v1/sgtm-configs/{config['id']}"), HEADER_KEY)
    assert_no_secret(await client.get("/admin/v1/sgtm-configs"), HEADER_KEY)

    async with sessionmaker() as session:
        stored = await session.get(SgtmConfig, config["id"])
        assert stored is not None and stored.custom_headers_encrypted
    assert HEADER_KEY not in stored.custom_headers_encrypted
    assert app.state.vault.decrypt(stored.custom_headers_encrypted) == {"X-Api-Key": HEADER_KEY}

    patched = await client.patch(
        f"/admin/v1/sgtm-configs/{config['id']}",
        json={"custom_headers": {"X-Api-Key": "k2-secret", "X-Tenant": "bosley-secret"}},
    )
    assert patched.status_code == 200
    assert patched.json()["custom_headers"] == {"X-Api-Key": MASK, "X-Tenant": MASK}
    assert_no_secret(patched, "k2-secret", "bosley-secret", HEADER_KEY)


async def test_second_sgtm_config_for_a_storefront_is_409(client: httpx.AsyncClient) -> None:
    ids = await create_storefronts(client, "bosley")
    await make_sgtm(client, "bosley")
    for ref in ("bosley", ids["bosley"]):
        again = await client.post(
            "/admin/v1/sgtm-configs",
            json={
                "storefront_id": ref,
                "sgtm_url": "https://other.example",
                "client_type": "custom",
            },
        )
        assert_error(again, 409, "conflict")
    assert_no_secret(again, GA4_SECRET)


async def test_sgtm_config_validation(client: httpx.AsyncClient) -> None:
    ids = await create_storefronts(client, "bosley")
    good = {
        "storefront_id": "bosley",
        "sgtm_url": "https://tags.upscript.com",
        "client_type": "ga4",
        "measurement_id": "G-1",
        "api_secret": GA4_SECRET,
    }

    async def rejected(**change: Any) -> set[str]:
        body = {k: v for k, v in (good | change).items() if v is not ...}
        response = await client.post("/admin/v1/sgtm-configs", json=body)
        assert_no_secret(response, GA4_SECRET)
        return error_fields(response)

    assert "sgtm_url" in await rejected(sgtm_url="not a url")
    assert "sgtm_url" in await rejected(sgtm_url="ftp://tags.upscript.com")
    assert "sgtm_url" in await rejected(sgtm_url=...)
    assert "sgtm_url" in await rejected(sgtm_url="https://tags.example/" + "p" * 600)
    assert "client_type" in await rejected(client_type="gtm")
    assert "measurement_id" in await rejected(measurement_id=...)
    assert "measurement_id" in await rejected(measurement_id="  ")
    assert "custom_endpoint_path" in await rejected(
        client_type="custom", custom_endpoint_path="collect"
    )
    assert "custom_headers.X-Api-Key" in await rejected(
        client_type="custom", custom_headers={"X-Api-Key": 5}
    )
    assert "storefront_id" in await rejected(storefront_id=True)
    assert "storefront_id" in await rejected(storefront_id=...)
    assert "storefront_id" in await rejected(storefront_id=[ids["bosley"]])
    assert "api_secret" in await rejected(api_secret="")
    assert "unknown" in await rejected(unknown="x")

    for missing in ("nowhere", 999999, 2**40):
        response = await client.post(
            "/admin/v1/sgtm-configs", json=good | {"storefront_id": missing}
        )
        assert_error(response, 404, "not_found")
        assert_no_secret(response, GA4_SECRET)
    assert (await client.get("/admin/v1/sgtm-configs")).json()["total"] == 0


async def test_sgtm_config_update_and_kill_switch(client: httpx.AsyncClient) -> None:
    ids = await create_storefronts(client, "bosley", "pfizer", "gsk")
    bosley = await make_sgtm(client, "bosley")
    pfizer = await make_sgtm(
        client, ids["pfizer"], client_type="custom", measurement_id=None, api_secret=None
    )
    gsk = await make_sgtm(client, "gsk")
    url = f"/admin/v1/sgtm-configs/{bosley['id']}"

    off = await client.patch(url, json={"is_active": False})
    assert off.status_code == 200 and off.json()["is_active"] is False
    assert off.json()["measurement_id"] == "G-TEST123"  # untouched fields are kept
    assert off.json()["api_secret"] == MASK

    async def listed(**params: Any) -> tuple[list[int], int]:
        body = (await client.get("/admin/v1/sgtm-configs", params=params)).json()
        return [c["id"] for c in body["items"]], body["total"]

    assert await listed(is_active="false") == ([bosley["id"]], 1)
    assert await listed(is_active="true") == ([pfizer["id"], gsk["id"]], 2)
    assert await listed(client_type="custom") == ([pfizer["id"]], 1)
    assert await listed(client_type="ga4") == ([bosley["id"], gsk["id"]], 2)
    assert await listed(storefront_id="pfizer") == ([pfizer["id"]], 1)
    assert await listed(storefront_id=str(ids["gsk"])) == ([gsk["id"]], 1)
    assert await listed(limit=1, offset=1) == ([pfizer["id"]], 3)
    assert "client_type" in error_fields(
        await client.get("/admin/v1/sgtm-configs", params={"client_type": "gtm"})
    )
    assert_error(
        await client.get("/admin/v1/sgtm-configs", params={"storefront_id": "nowhere"}),
        404,
        "not_found",
    )

    on = await client.patch(
        url,
        json={
            "is_active": True,
            "sgtm_url": "https://sgtm.bosley.example/",
            "event_types": ["purchase_completed"],
        },
    )
    assert on.status_code == 200
    assert on.json()["is_active"] is True
    assert on.json()["sgtm_url"].rstrip("/") == "https://sgtm.bosley.example"
    assert on.json()["event_types"] == ["purchase_completed"]

    assert "sgtm_url" in error_fields(await client.patch(url, json={"sgtm_url": "nope"}))
    assert "client_type" in error_fields(await client.patch(url, json={"client_type": "gtm"}))
    assert "storefront_id" in error_fields(await client.patch(url, json={"storefront_id": "gsk"}))
    # switching a custom config to ga4 needs a measurement_id
    to_ga4 = f"/admin/v1/sgtm-configs/{pfizer['id']}"
    assert "measurement_id" in error_fields(await client.patch(to_ga4, json={"client_type": "ga4"}))
    switched = await client.patch(to_ga4, json={"client_type": "ga4", "measurement_id": "G-PF"})
    assert switched.status_code == 200 and switched.json()["client_type"] == "ga4"
    assert (await client.get(url)).json()["sgtm_url"].rstrip("/") == "https://sgtm.bosley.example"

    assert (await client.delete(url)).status_code == 204
    assert_error(await client.get(url), 404, "not_found")
    assert await listed() == ([pfizer["id"], gsk["id"]], 2)
    # with its config gone, the storefront can have a new one
    assert (await make_sgtm(client, "bosley"))["storefront_id"] == ids["bosley"]


# ---- platforms ---------------------------------------------------------------------------


async def test_seeded_platform_catalog_is_listed(client: httpx.AsyncClient) -> None:
    response = await client.get("/admin/v1/platforms", params={"limit": 1000})
    assert response.status_code == 200
    body = response.json()
    assert body["total"] >= 53 and len(body["items"]) == body["total"]
    platforms = {p["platform_code"]: p for p in body["items"]}
    assert {"meta", "ga4", "tiktok", "snapchat", "pinterest"} <= set(platforms)
    fields = {
        code: {f["name"]: (f["secret"], f["required"]) for f in p["credential_fields"]}
        for code, p in platforms.items()
    }
    assert fields["meta"]["pixel_id"] == (False, True)
    assert fields["meta"]["access_token"] == (True, True)
    assert fields["ga4"]["api_secret"] == (True, True)
    assert fields["tiktok"]["access_token"] == (True, True)
    assert "pixel_id" in fields["snapchat"] and "ad_account_id" in fields["pinterest"]
    assert all(p["is_active"] for p in body["items"])

    meta = platforms["meta"]
    assert (meta["category"], meta["auth_type"]) == ("ads", "access_token")
    assert (await client.get(f"/admin/v1/platforms/{meta['id']}")).json() == meta
    assert (await client.get("/admin/v1/platforms/meta")).json() == meta

    default_page = (await client.get("/admin/v1/platforms")).json()
    assert default_page["total"] == body["total"]


async def test_platform_list_filters_and_kill_switch(client: httpx.AsyncClient) -> None:
    async def codes_for(**params: Any) -> tuple[set[str], int]:
        body = (await client.get("/admin/v1/platforms", params={"limit": 1000} | params)).json()
        return {p["platform_code"] for p in body["items"]}, body["total"]

    analytics, total = await codes_for(category="analytics")
    assert "ga4" in analytics and "meta" not in analytics and total == len(analytics)
    by_token, _ = await codes_for(auth_type="access_token")
    assert {"meta", "tiktok", "snapchat"} <= by_token and "pinterest" not in by_token
    assert "tiktok" in (await codes_for(q="TikTok"))[0]
    assert (await codes_for(q="meta conversions"))[0] == {"meta"}
    assert (await codes_for(category="ads", q="pinterest"))[0] == {"pinterest"}

    everything, total = await codes_for()
    page = (await client.get("/admin/v1/platforms", params={"limit": 10, "offset": 10})).json()
    assert page["total"] == total and len(page["items"]) == 10

    off = await client.patch("/admin/v1/platforms/meta", json={"is_active": False})
    assert off.status_code == 200 and off.json()["is_active"] is False
    assert (await codes_for(is_active="false")) == ({"meta"}, 1)
    active, active_total = await codes_for(is_active="true")
    assert "meta" not in active and active_total == total - 1
    on = await client.patch("/admin/v1/platforms/meta", json={"is_active": True})
    assert on.json()["is_active"] is True

    assert "category" in error_fields(
        await client.get("/admin/v1/platforms", params={"category": "nonsense"})
    )
    assert "auth_type" in error_fields(
        await client.get("/admin/v1/platforms", params={"auth_type": "nonsense"})
    )


async def test_platform_create_update_delete(
    client: httpx.AsyncClient, new_platform_code: Any
) -> None:
    code = new_platform_code()
    body = {
        "platform_code": code,
        "name": "Acme Conversions",
        "category": "affiliate",
        "auth_type": "api_key",
        "credential_fields": [
            {"name": "account_id", "label": "Account ID", "secret": False},
            {"name": "api_key", "label": "API key"},
        ],
        "docs_url": "https://docs.acme.example/conversions",
    }
    response = await client.post("/admin/v1/platforms", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["platform_code"] == code and created["is_active"] is True
    assert created["credential_fields"] == [
        {"name": "account_id", "label": "Account ID", "secret": False, "required": True},
        {"name": "api_key", "label": "API key", "secret": True, "required": True},
    ]
    assert created["docs_url"].startswith("https://docs.acme.example/conversions")
    assert (await client.get(f"/admin/v1/platforms/{code}")).json() == created
    assert (await client.get("/admin/v1/platforms", params={"q": code})).json()["total"] == 1

    assert_error(await client.post("/admin/v1/platforms", json=body), 409, "conflict")
    meta_again = body | {"platform_code": "meta"}
    assert_error(await client.post("/admin/v1/platforms", json=meta_again), 409, "conflict")

    patched = await client.patch(
        f"/admin/v1/platforms/{created['id']}",
        json={
            "name": "Acme Conversions v2",
            "credential_fields": [{"name": "api_key", "label": "API key"}],
            "docs_url": None,
        },
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "Acme Conversions v2"
    # a field spec sent in a PATCH gets the same defaults as one sent at creation
    assert patched.json()["credential_fields"] == [
        {"name": "api_key", "label": "API key", "secret": True, "required": True}
    ]
    assert patched.json()["docs_url"] is None
    assert patched.json()["category"] == "affiliate"
    assert "platform_code" in error_fields(
        await client.patch(f"/admin/v1/platforms/{code}", json={"platform_code": "other"})
    )

    assert (await client.delete(f"/admin/v1/platforms/{code}")).status_code == 204
    assert_error(await client.get(f"/admin/v1/platforms/{code}"), 404, "not_found")


async def test_platform_validation(client: httpx.AsyncClient, new_platform_code: Any) -> None:
    code = new_platform_code()
    good = {"platform_code": code, "name": "Acme", "auth_type": "api_key"}

    async def rejected(**change: Any) -> set[str]:
        return error_fields(await client.post("/admin/v1/platforms", json=good | change))

    assert "platform_code" in await rejected(platform_code="Has Caps")
    assert "auth_type" in await rejected(auth_type="password")
    assert "category" in await rejected(category="tv")
    assert "docs_url" in await rejected(docs_url="not a url")
    assert "docs_url" in await rejected(docs_url="https://docs.example/" + "d" * 600)
    assert "credential_fields.0.name" in await rejected(
        credential_fields=[{"name": "Bad Name", "label": "x"}]
    )
    assert "credential_fields" in await rejected(
        credential_fields=[{"name": "api_key", "label": "a"}, {"name": "api_key", "label": "b"}]
    )
    # base_url is accepted by every platform already (it is not secret, never required)
    assert "credential_fields" in await rejected(
        credential_fields=[{"name": "base_url", "label": "Base URL"}]
    )
    assert_error(await client.get(f"/admin/v1/platforms/{code}"), 404, "not_found")


async def test_deleting_a_platform_with_credentials_is_409(
    client: httpx.AsyncClient, new_platform_code: Any
) -> None:
    await create_storefronts(client, "bosley")
    code = new_platform_code()
    created = await client.post(
        "/admin/v1/platforms",
        json={
            "platform_code": code,
            "name": "Acme",
            "auth_type": "api_key",
            "credential_fields": [{"name": "api_key", "label": "API key"}],
        },
    )
    assert created.status_code == 201
    credential = await make_credential(client, "bosley", code, {"api_key": "acme-secret-key"})
    assert_error(await client.delete(f"/admin/v1/platforms/{code}"), 409, "conflict")
    assert (await client.delete(f"/admin/v1/credentials/{credential['id']}")).status_code == 204
    assert (await client.delete(f"/admin/v1/platforms/{code}")).status_code == 204


# ---- platform credentials ----------------------------------------------------------------


async def test_credentials_are_encrypted_and_secret_fields_masked(
    client: httpx.AsyncClient, app: Any, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    ids = await create_storefronts(client, "bosley")
    response = await client.post(
        "/admin/v1/credentials",
        json={
            "storefront_id": "bosley",
            "platform_code": "meta",
            "credentials": META_CREDENTIALS | {"test_event_code": "TEST123"},
            "settings": {"base_url": "https://proxy.example/meta", "api_version": "v19.0"},
            "event_types": ["purchase_completed"],
            "event_name_map": {"purchase_completed": "Purchase"},
        },
    )
    assert response.status_code == 201, response.text
    assert_no_secret(response, META_TOKEN)
    credential = response.json()
    meta = (await client.get("/admin/v1/platforms/meta")).json()
    assert credential["storefront_id"] == ids["bosley"]
    assert (credential["platform_id"], credential["platform_code"]) == (meta["id"], "meta")
    assert credential["credentials"] == {
        "pixel_id": "1234567890",
        "access_token": MASK,
        "test_event_code": "TEST123",
    }
    assert credential["settings"] == {
        "base_url": "https://proxy.example/meta",
        "api_version": "v19.0",
    }
    assert credential["event_types"] == ["purchase_completed"]
    assert credential["event_name_map"] == {"purchase_completed": "Purchase"}
    assert credential["is_active"] is True

    for read in (
        await client.get(f"/admin/v1/credentials/{credential['id']}"),
        await client.get("/admin/v1/credentials"),
        await client.get("/admin/v1/credentials", params={"platform": "meta"}),
    ):
        assert read.status_code == 200
        assert_no_secret(read, META_TOKEN)
    assert (await client.get(f"/admin/v1/credentials/{credential['id']}")).json() == credential

    async with sessionmaker() as session:
        stored = await session.get(PlatformCredential, credential["id"])
        assert stored is not None
    assert META_TOKEN not in stored.credentials_encrypted
    assert "1234567890" not in stored.credentials_encrypted
    assert app.state.vault.decrypt(stored.credentials_encrypted) == META_CREDENTIALS | {
        "test_event_code": "TEST123"
    }


async def test_credentials_by_platform_id_and_storefront_id(client: httpx.AsyncClient) -> None:
    ids = await create_storefronts(client, "bosley")
    tiktok = (await client.get("/admin/v1/platforms/tiktok")).json()
    credential = await make_credential(
        client,
        ids["bosley"],
        platform_code=None,  # type: ignore[arg-type]
        platform_id=tiktok["id"],
        credentials={"pixel_code": "C123", "access_token": "tt-secret-token"},
    )
    assert credential["platform_code"] == "tiktok"
    assert credential["credentials"] == {"pixel_code": "C123", "access_token": MASK}
    # platform_id and platform_code that disagree are refused rather than guessed
    response = await client.post(
        "/admin/v1/credentials",
        json={
            "storefront_id": "bosley",
            "platform_id": tiktok["id"],
            "platform_code": "meta",
            "credentials": META_CREDENTIALS,
        },
    )
    assert_no_secret(response, META_TOKEN)
    assert "platform_code" in error_fields(response)


async def test_webhook_credential_validation(client: httpx.AsyncClient) -> None:
    await create_storefronts(client, "bosley")

    async def post(**credentials: Any) -> httpx.Response:
        return await client.post(
            "/admin/v1/credentials",
            json={
                "storefront_id": "bosley",
                "platform_code": "webhook",
                "credentials": credentials,
            },
        )

    url = "https://hooks.example.com/in"
    refusals = [
        ({"url": "not a url"}, "credentials.url"),
        ({"url": "ftp://files.example.com/in"}, "credentials.url"),
        ({"url": "hooks.example.com/in"}, "credentials.url"),
        ({"secret": "whsec-test-1234"}, "credentials.url"),  # required
        ({"url": url, "headers": ["Authorization"]}, "credentials.headers"),
        ({"url": url, "headers": {"X-N": 1}}, "credentials.headers"),
    ]
    for credentials, field in refusals:
        refused = await post(**credentials)
        assert refused.status_code == 422, refused.text
        assert field in error_fields(refused), (credentials, refused.text)
    accepted = await post(url=url, secret="whsec-test-1234", headers={"Authorization": "x"})
    assert accepted.status_code == 201, accepted.text


async def test_credential_validation(client: httpx.AsyncClient) -> None:
    await create_storefronts(client, "bosley")
    good: dict[str, Any] = {
        "storefront_id": "bosley",
        "platform_code": "meta",
        "credentials": META_CREDENTIALS,
    }

    async def rejected(**change: Any) -> set[str]:
        body = {k: v for k, v in (good | change).items() if v is not ...}
        response = await client.post("/admin/v1/credentials", json=body)
        assert_no_secret(response, META_TOKEN)
        return error_fields(response)

    assert "credentials.access_token" in await rejected(credentials={"pixel_id": "1"})
    assert "credentials.access_token" in await rejected(
        credentials={"pixel_id": "1", "access_token": "   "}
    )
    assert "credentials.access_token" in await rejected(
        credentials={"pixel_id": "1", "access_token": None}
    )
    assert {"credentials.pixel_id", "credentials.access_token"} <= await rejected(credentials={})
    assert "credentials.app_secret" in await rejected(
        credentials=META_CREDENTIALS | {"app_secret": "x"}
    )
    assert "credentials.pixel_id" in await rejected(
        credentials=META_CREDENTIALS | {"pixel_id": ["1", "2"]}
    )
    assert "credentials.base_url" in await rejected(
        credentials=META_CREDENTIALS | {"base_url": "not a url"}
    )
    assert "settings.base_url" in await rejected(settings={"base_url": "ftp://nope"})
    assert "credentials" in await rejected(credentials="pixel_id=1")
    assert "credentials" in await rejected(credentials=...)
    assert "platform_id" in await rejected(platform_code=None)
    assert "platform_id" in await rejected(platform_code=None, platform_id=True)
    assert "storefront_id" in await rejected(storefront_id=None)
    assert "event_types" in await rejected(event_types="purchase_completed")

    for change in (
        {"storefront_id": "nowhere"},
        {"storefront_id": 999999},
        {"platform_code": "no_such_platform"},
        {"platform_code": None, "platform_id": 999999},
        {"platform_code": None, "platform_id": 2**40},
    ):
        response = await client.post("/admin/v1/credentials", json=good | change)
        assert_error(response, 404, "not_found")
        assert_no_secret(response, META_TOKEN)
    assert (await client.get("/admin/v1/credentials")).json()["total"] == 0


async def test_second_credential_for_storefront_and_platform_is_409(
    client: httpx.AsyncClient,
) -> None:
    ids = await create_storefronts(client, "bosley", "pfizer")
    await make_credential(client, "bosley")
    again = await client.post(
        "/admin/v1/credentials",
        json={
            "storefront_id": ids["bosley"],
            "platform_code": "meta",
            "credentials": META_CREDENTIALS,
        },
    )
    assert_error(again, 409, "conflict")
    assert_no_secret(again, META_TOKEN)
    # the same platform for another storefront, and another platform for the same one, are fine
    await make_credential(client, "pfizer")
    await make_credential(
        client, "bosley", "snapchat", {"pixel_id": "snap-1", "access_token": "snap-secret"}
    )


async def test_credential_patch_merges_fields(
    client: httpx.AsyncClient, app: Any, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await create_storefronts(client, "bosley")
    credential = await make_credential(client, "bosley")
    url = f"/admin/v1/credentials/{credential['id']}"

    async def stored_values() -> Any:
        async with sessionmaker() as session:
            row = await session.get(PlatformCredential, credential["id"])
            assert row is not None
            assert META_TOKEN not in row.credentials_encrypted
            return app.state.vault.decrypt(row.credentials_encrypted)

    added = await client.patch(url, json={"credentials": {"test_event_code": "TEST42"}})
    assert added.status_code == 200, added.text
    assert added.json()["credentials"] == {
        "pixel_id": "1234567890",
        "access_token": MASK,
        "test_event_code": "TEST42",
    }
    assert await stored_values() == META_CREDENTIALS | {"test_event_code": "TEST42"}

    removed = await client.patch(url, json={"credentials": {"test_event_code": None}})
    assert removed.status_code == 200
    assert removed.json()["credentials"] == {"pixel_id": "1234567890", "access_token": MASK}
    assert await stored_values() == META_CREDENTIALS

    new_token = "EAAB-rotated-token-do-not-leak"
    rotated = await client.patch(url, json={"credentials": {"access_token": new_token}})
    assert rotated.status_code == 200
    assert_no_secret(rotated, new_token, META_TOKEN)
    assert await stored_values() == {"pixel_id": "1234567890", "access_token": new_token}

    # removing a required field is refused and changes nothing
    refused = await client.patch(url, json={"credentials": {"access_token": None}})
    assert "credentials.access_token" in error_fields(refused)
    refused = await client.patch(url, json={"credentials": {"unknown_field": "x"}})
    assert "credentials.unknown_field" in error_fields(refused)
    refused = await client.patch(url, json={"settings": {"base_url": "nope"}})
    assert "settings.base_url" in error_fields(refused)
    assert "platform_code" in error_fields(await client.patch(url, json={"platform_code": "ga4"}))
    assert await stored_values() == {"pixel_id": "1234567890", "access_token": new_token}

    # other fields are replaced; credentials untouched when not sent
    other = await client.patch(
        url, json={"settings": {"test_event_code": "T1"}, "event_types": ["rx_issued"]}
    )
    assert other.status_code == 200
    assert other.json()["settings"] == {"test_event_code": "T1"}
    assert other.json()["event_types"] == ["rx_issued"]
    assert await stored_values() == {"pixel_id": "1234567890", "access_token": new_token}
    assert_no_secret(other, new_token)


async def test_credential_values_of_fields_the_platform_no_longer_lists_stay_masked(
    client: httpx.AsyncClient, new_platform_code: Any
) -> None:
    await create_storefronts(client, "bosley")
    code = new_platform_code()
    created = await client.post(
        "/admin/v1/platforms",
        json={
            "platform_code": code,
            "name": "Acme",
            "auth_type": "api_key",
            "credential_fields": [
                {"name": "account_id", "label": "Account", "secret": False},
                {"name": "api_key", "label": "API key", "required": False},
            ],
        },
    )
    assert created.status_code == 201
    credential = await make_credential(
        client, "bosley", code, {"account_id": "acc-1", "api_key": "acme-old-secret"}
    )
    assert credential["credentials"] == {"account_id": "acc-1", "api_key": MASK}
    # the operator renames the secret field in the master data
    patched = await client.patch(
        f"/admin/v1/platforms/{code}",
        json={
            "credential_fields": [
                {"name": "account_id", "label": "Account", "secret": False},
                {"name": "key", "label": "API key", "required": False},
            ]
        },
    )
    assert patched.status_code == 200
    read = await client.get(f"/admin/v1/credentials/{credential['id']}")
    assert read.status_code == 200
    assert_no_secret(read, "acme-old-secret")
    assert read.json()["credentials"]["api_key"] == MASK
    assert_no_secret(await client.get("/admin/v1/credentials"), "acme-old-secret")
    # the stale field can be removed with null
    cleaned = await client.patch(
        f"/admin/v1/credentials/{credential['id']}",
        json={"credentials": {"api_key": None, "key": "acme-new-secret"}},
    )
    assert cleaned.status_code == 200, cleaned.text
    assert cleaned.json()["credentials"] == {"account_id": "acc-1", "key": MASK}


async def test_credential_list_filters_and_kill_switch(client: httpx.AsyncClient) -> None:
    ids = await create_storefronts(client, "bosley", "pfizer")
    snap = {"pixel_id": "snap-1", "access_token": "snap-secret"}
    bosley_meta = await make_credential(client, "bosley")
    bosley_snap = await make_credential(client, "bosley", "snapchat", snap)
    pfizer_meta = await make_credential(client, "pfizer")
    meta_id = (await client.get("/admin/v1/platforms/meta")).json()["id"]

    off = await client.patch(
        f"/admin/v1/credentials/{bosley_snap['id']}", json={"is_active": False}
    )
    assert off.status_code == 200 and off.json()["is_active"] is False
    assert off.json()["credentials"] == {"pixel_id": "snap-1", "access_token": MASK}

    async def listed(**params: Any) -> tuple[list[int], int]:
        response = await client.get("/admin/v1/credentials", params=params)
        assert response.status_code == 200, response.text
        assert_no_secret(response, META_TOKEN, "snap-secret")
        body = response.json()
        return [c["id"] for c in body["items"]], body["total"]

    everything = [bosley_meta["id"], bosley_snap["id"], pfizer_meta["id"]]
    assert await listed() == (everything, 3)
    assert await listed(storefront_id="bosley") == (everything[:2], 2)
    assert await listed(storefront_id=str(ids["pfizer"])) == ([pfizer_meta["id"]], 1)
    assert await listed(platform="meta") == ([bosley_meta["id"], pfizer_meta["id"]], 2)
    assert await listed(platform=str(meta_id)) == ([bosley_meta["id"], pfizer_meta["id"]], 2)
    assert await listed(is_active="false") == ([bosley_snap["id"]], 1)
    assert await listed(is_active="true", storefront_id="bosley") == ([bosley_meta["id"]], 1)
    assert await listed(limit=2, offset=1) == (everything[1:], 3)
    assert await listed(platform="ga4") == ([], 0)
    assert_error(
        await client.get("/admin/v1/credentials", params={"platform": "nope"}), 404, "not_found"
    )

    on = await client.patch(f"/admin/v1/credentials/{bosley_snap['id']}", json={"is_active": True})
    assert on.json()["is_active"] is True
    assert (await client.delete(f"/admin/v1/credentials/{bosley_meta['id']}")).status_code == 204
    assert_error(await client.get(f"/admin/v1/credentials/{bosley_meta['id']}"), 404, "not_found")
    assert await listed() == (everything[1:], 2)


async def test_the_four_kill_switches(client: httpx.AsyncClient) -> None:
    ids = await create_storefronts(client, "bosley")
    config = await make_sgtm(client, "bosley")
    credential = await make_credential(client, "bosley")
    meta_id = (await client.get("/admin/v1/platforms/meta")).json()["id"]
    # (item url, list url, list params, id of the item in the list)
    switches = [
        ("/admin/v1/storefronts/bosley", "/admin/v1/storefronts", {}, ids["bosley"]),
        (f"/admin/v1/sgtm-configs/{config['id']}", "/admin/v1/sgtm-configs", {}, config["id"]),
        ("/admin/v1/platforms/meta", "/admin/v1/platforms", {"limit": 1000}, meta_id),
        (
            f"/admin/v1/credentials/{credential['id']}",
            "/admin/v1/credentials",
            {},
            credential["id"],
        ),
    ]
    for item_url, list_url, params, item_id in switches:
        for state in (False, True, False):
            response = await client.patch(item_url, json={"is_active": state})
            assert response.status_code == 200, response.text
            assert response.json()["is_active"] is state
            assert (await client.get(item_url)).json()["is_active"] is state
            # a PATCH without is_active (or with null) leaves the switch alone
            assert (await client.patch(item_url, json={"is_active": None})).json()[
                "is_active"
            ] is state
        off = (await client.get(list_url, params=params | {"is_active": "false"})).json()
        on = (await client.get(list_url, params=params | {"is_active": "true"})).json()
        assert [i["id"] for i in off["items"]] == [item_id] and off["total"] == 1
        assert item_id not in [i["id"] for i in on["items"]]
        assert all(i["is_active"] for i in on["items"])
    assert_no_secret(await client.get("/admin/v1/credentials"), META_TOKEN)


# ---- key rotation ------------------------------------------------------------------------


async def test_reencrypt_secrets_moves_everything_to_the_new_key(
    client: httpx.AsyncClient, app: Any, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await create_storefronts(client, "bosley", "pfizer")
    await make_sgtm(client, "bosley", custom_headers={"X-Api-Key": HEADER_KEY})
    await make_sgtm(client, "pfizer", api_secret=None)  # nothing secret to rotate
    await make_credential(client, "bosley")
    await make_credential(client, "pfizer", "snapchat", {"pixel_id": "s", "access_token": "snap"})

    old_keys = app.state.settings.encryption_keys()
    old = Vault(old_keys)
    new_key = Fernet.generate_key().decode()
    async with sessionmaker() as session:
        count = await reencrypt_secrets(session, Vault([new_key, *old_keys]))
        await session.commit()
    assert count == 4  # api_secret + custom_headers + two credentials

    new_only = Vault([new_key])
    async with sessionmaker() as session:
        configs = (
            (await session.execute(select(SgtmConfig).order_by(SgtmConfig.id))).scalars().all()
        )
        credentials = (
            (await session.execute(select(PlatformCredential).order_by(PlatformCredential.id)))
            .scalars()
            .all()
        )
    tokens = [
        token
        for config in configs
        for token in (config.api_secret_encrypted, config.custom_headers_encrypted)
        if token
    ] + [credential.credentials_encrypted for credential in credentials]
    assert len(tokens) == 4
    assert [new_only.decrypt(t) for t in tokens] == [
        GA4_SECRET,
        {"X-Api-Key": HEADER_KEY},
        META_CREDENTIALS,
        {"pixel_id": "s", "access_token": "snap"},
    ]
    for token in tokens:
        with pytest.raises(VaultError):
            old.decrypt(token)


async def test_nul_characters_are_422_naming_the_field(client: httpx.AsyncClient) -> None:
    """PostgreSQL text cannot hold U+0000: a name or a filter holding one was a 500 there."""
    await create_storefronts(client, "bosley")
    for url, field in (
        ("/admin/v1/storefronts?q=a%00", "q"),
        ("/admin/v1/storefronts/bos%00ley", "storefront"),
        ("/admin/v1/platforms/me%00ta", "platform"),
        ("/admin/v1/platforms?q=%00", "q"),
        ("/admin/v1/credentials?platform=me%00ta", "platform"),
        ("/admin/v1/sgtm-configs?storefront_id=%00", "storefront_id"),
        ("/admin/v1/events?event_id=%00", "event_id"),
        ("/admin/v1/events?status=%00", "status"),
        ("/admin/v1/events?event_type=%00", "event_type"),
        ("/admin/v1/events?storefront_id=%00", "storefront_id"),
    ):
        assert error_fields(await client.get(url)) == {field}, url
    for path, body, field in (
        ("/admin/v1/storefronts", {"storefront_id": "x", "name": "a\u0000b"}, "name"),
        (
            "/admin/v1/platforms",
            {"platform_code": "acme_nul", "name": "a\u0000b", "auth_type": "none"},
            "name",
        ),
        (
            "/admin/v1/sgtm-configs",
            {
                "storefront_id": "bosley",
                "sgtm_url": "https://t.example",
                "measurement_id": "G\u00001",
            },
            "measurement_id",
        ),
        (
            "/admin/v1/sgtm-configs",
            {
                "storefront_id": "bosley",
                "sgtm_url": "https://t.example",
                "client_type": "custom",
                "custom_endpoint_path": "/c\u0000",
            },
            "custom_endpoint_path",
        ),
        (
            "/admin/v1/credentials",
            {"storefront_id": "bosley", "platform_code": "me\u0000ta", "credentials": {}},
            "platform_code",
        ),
        ("/admin/v1/deliveries/replay", {"destination": "me\u0000ta"}, "destination"),
    ):
        assert field in error_fields(await client.post(path, json=body)), (path, body)
    patched = await client.patch("/admin/v1/storefronts/bosley", json={"name": "\u0000"})
    assert error_fields(patched) == {"name"}
