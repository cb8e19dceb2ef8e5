"""A credential embedded in a configured URL (user info, a ``?secret=``-style parameter) is
masked in every admin answer that shows the URL, while the URL itself is kept as given.
The admin API refuses user info in a destination URL; a row holding one (stored before
that rule, or written by another system) is masked all the same."""

from __future__ import annotations

from typing import Any

import httpx

from omnirelay.models import PlatformCredential
from omnirelay.redaction import MASK
from tests.factories import create_storefronts, store_as_before_the_url_rules

WEBHOOK_URL = "https://hook:pa%2Fss-1@hooks.example.com/in?secret=whk%2Fs3cr&token=t0ken-9&id=7"
MASKED_WEBHOOK_URL = f"https://{MASK}:{MASK}@hooks.example.com/in?secret={MASK}&token={MASK}&id=7"
PROXY_URL = "https://proxy-user:pr0xy-pw@proxy.example.com/meta"
MASKED_PROXY_URL = f"https://{MASK}:{MASK}@proxy.example.com/meta"
LEAKS = ("pa%2Fss-1", "pa/ss-1", "whk%2Fs3cr", "whk/s3cr", "t0ken-9", "pr0xy-pw", "t4g-pw")


def assert_masked(response: httpx.Response) -> Any:
    assert response.status_code in (200, 201), response.text
    assert not [leak for leak in LEAKS if leak in response.text], response.text
    return response.json()


async def test_credentials_in_webhook_and_base_urls_are_masked(
    client: httpx.AsyncClient, sessionmaker: Any, app: Any
) -> None:
    await create_storefronts(client, "bosley")
    body = {
        "storefront_id": "bosley",
        "platform_code": "webhook",
        "credentials": {"url": WEBHOOK_URL},
        "settings": {"base_url": PROXY_URL, "batch_size": 5},
    }
    refused = await client.post("/admin/v1/credentials", json=body)
    assert refused.status_code == 422 and "user info" in refused.text
    assert not [leak for leak in LEAKS if leak in refused.text]
    query_only = "https://hooks.example.com/in?secret=whk%2Fs3cr&token=t0ken-9&id=7"
    created = assert_masked(
        await client.post(
            "/admin/v1/credentials",
            json=body | {"credentials": {"url": query_only}, "settings": {"batch_size": 5}},
        )
    )
    assert created["credentials"] == {
        "url": f"https://hooks.example.com/in?secret={MASK}&token={MASK}&id=7"
    }
    await store_as_before_the_url_rules(
        app,
        credential_id=created["id"],
        credentials={"url": WEBHOOK_URL},
        settings=body["settings"],
    )
    created = assert_masked(await client.get(f"/admin/v1/credentials/{created['id']}"))
    assert created["credentials"] == {"url": MASKED_WEBHOOK_URL}
    assert created["settings"] == {"base_url": MASKED_PROXY_URL, "batch_size": 5}
    path = f"/admin/v1/credentials/{created['id']}"
    read = assert_masked(await client.get(path))
    assert (read["credentials"], read["settings"]) == (created["credentials"], created["settings"])
    [listed] = assert_masked(await client.get("/admin/v1/credentials"))["items"]
    assert listed["credentials"] == {"url": MASKED_WEBHOOK_URL}
    patched = assert_masked(await client.patch(path, json={"is_active": False}))
    assert patched["credentials"] == {"url": MASKED_WEBHOOK_URL}

    async with sessionmaker() as session:  # what is sent is the URL as configured
        credential = await session.get(PlatformCredential, created["id"])
        stored = app.state.vault.decrypt(credential.credentials_encrypted)
    assert stored == {"url": WEBHOOK_URL}


async def test_credentials_in_an_sgtm_url_are_masked(client: httpx.AsyncClient, app: Any) -> None:
    await create_storefronts(client, "bosley")
    body = {
        "storefront_id": "bosley",
        "sgtm_url": "https://tag:t4g-pw@tags.example.com",
        "client_type": "ga4",
        "measurement_id": "G-TEST123",
    }
    refused = await client.post("/admin/v1/sgtm-configs", json=body)
    assert refused.status_code == 422 and "t4g-pw" not in refused.text
    created = assert_masked(
        await client.post(
            "/admin/v1/sgtm-configs", json=body | {"sgtm_url": "https://tags.example.com"}
        )
    )
    await store_as_before_the_url_rules(
        app, sgtm_config_id=created["id"], sgtm_url=body["sgtm_url"]
    )
    masked = f"https://{MASK}:{MASK}@tags.example.com"
    created = assert_masked(await client.get(f"/admin/v1/sgtm-configs/{created['id']}"))
    assert created["sgtm_url"] == masked
    path = f"/admin/v1/sgtm-configs/{created['id']}"
    assert assert_masked(await client.get(path))["sgtm_url"] == masked
    [listed] = assert_masked(await client.get("/admin/v1/sgtm-configs"))["items"]
    assert listed["sgtm_url"] == masked
    patched = assert_masked(await client.patch(path, json={"measurement_id": "G-OTHER1"}))
    assert patched["sgtm_url"] == masked
