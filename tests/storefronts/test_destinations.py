"""Destinations set through the admin API must be public http(s) hosts unless OUTBOUND_ALLOW
names them: sGTM URLs, credentials' base_url and every catalog field of kind url or host
(422 naming the field and the reason). Names resolve through the ``dns`` fixture."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from omnirelay.app import create_app
from omnirelay.config import Settings
from tests.conftest import AUTH
from tests.factories import create_storefronts

# The addresses the relay accepted before: each is refused now, with its reason.
REFUSED_URLS = [
    (
        "http://127.0.0.1:8099/internal/admin",
        "destination address 127.0.0.1 is not allowed (loopback)",
    ),
    ("http://[::1]:8099/", "destination address ::1 is not allowed (loopback)"),
    ("http://10.0.0.1/hook", "destination address 10.0.0.1 is not allowed (private network)"),
    (
        "http://169.254.169.254/latest/meta-data/",
        "destination address 169.254.169.254 is not allowed (cloud metadata)",
    ),
    (
        "http://metadata.google.internal/computeMetadata/v1/",
        "destination host 'metadata.google.internal' is not allowed (cloud metadata)",
    ),
    ("http://0x7f000001/", "destination address 127.0.0.1 is not allowed (loopback)"),
    ("http://2130706433/", "destination address 127.0.0.1 is not allowed (loopback)"),
    ("http://[::ffff:127.0.0.1]/", "is not allowed (loopback)"),
    ("http://0.0.0.0:8000/", "destination address 0.0.0.0 is not allowed (unspecified address)"),
    ("http://localhost:8000/", "destination host 'localhost' is not allowed (loopback)"),
    ("https://admin:secret@hooks.example.com/in", "must not contain user info"),
]
NOT_URLS = ["file:///etc/passwd", "gopher://127.0.0.1:6379/_FLUSHALL", "ftp://files.example.com/"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Nothing allowed beyond public destinations."""
    return settings.model_copy(update={"outbound_allow": ""})


@pytest.fixture
async def bosley(client: httpx.AsyncClient) -> None:
    await create_storefronts(client, "bosley")


def problems(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "validation_error", body
    return list(body["detail"])


def reason_for(response: httpx.Response, field: str) -> str:
    found = [p["reason"] for p in problems(response) if p["field"] == field]
    assert found, response.text
    return found[0]


async def post_credential(
    client: httpx.AsyncClient, platform: str, credentials: dict[str, Any], **fields: Any
) -> httpx.Response:
    body = {"storefront_id": "bosley", "platform_code": platform, "credentials": credentials}
    return await client.post("/admin/v1/credentials", json=body | fields)


@pytest.mark.usefixtures("bosley")
async def test_the_reproduced_webhook_to_an_internal_listener_is_refused(
    client: httpx.AsyncClient,
) -> None:
    response = await post_credential(
        client, "webhook", {"url": "http://127.0.0.1:8099/internal/admin"}
    )
    assert problems(response) == [
        {
            "field": "credentials.url",
            "reason": "destination address 127.0.0.1 is not allowed (loopback)",
        }
    ]


@pytest.mark.usefixtures("bosley")
@pytest.mark.parametrize(("url", "reason"), REFUSED_URLS)
async def test_sgtm_url_must_be_a_public_destination(
    client: httpx.AsyncClient, url: str, reason: str
) -> None:
    body = {"storefront_id": "bosley", "sgtm_url": url, "measurement_id": "G-TEST123"}
    assert reason in reason_for(await client.post("/admin/v1/sgtm-configs", json=body), "sgtm_url")

    created = await client.post(
        "/admin/v1/sgtm-configs", json=body | {"sgtm_url": "https://tags.example.com"}
    )
    assert created.status_code == 201, created.text
    path = f"/admin/v1/sgtm-configs/{created.json()['id']}"
    assert reason in reason_for(await client.patch(path, json={"sgtm_url": url}), "sgtm_url")
    assert (await client.get(path)).json()["sgtm_url"].rstrip("/") == "https://tags.example.com"


# Every catalog field of kind url or host, and base_url (in credentials and in settings).
URL_FIELDS = [
    ("webhook", "url", {}),
    ("braze", "rest_endpoint", {"api_key": "braze-key"}),
    ("matomo", "url", {"site_id": "1", "token_auth": "t"}),
    ("snowplow", "collector_url", {}),
    ("rudderstack", "data_plane_url", {"write_key": "w"}),
]
META = {"pixel_id": "1234567890", "access_token": "meta-token"}


@pytest.mark.usefixtures("bosley")
@pytest.mark.parametrize(("platform", "field", "others"), URL_FIELDS)
@pytest.mark.parametrize(("url", "reason"), REFUSED_URLS)
async def test_url_fields_must_be_public_destinations(
    client: httpx.AsyncClient,
    platform: str,
    field: str,
    others: dict[str, str],
    url: str,
    reason: str,
) -> None:
    response = await post_credential(client, platform, others | {field: url})
    assert reason in reason_for(response, f"credentials.{field}")


@pytest.mark.usefixtures("bosley")
@pytest.mark.parametrize(("platform", "field", "others"), URL_FIELDS)
@pytest.mark.parametrize("url", NOT_URLS)
async def test_url_fields_take_only_http_urls(
    client: httpx.AsyncClient, platform: str, field: str, others: dict[str, str], url: str
) -> None:
    response = await post_credential(client, platform, others | {field: url})
    assert reason_for(response, f"credentials.{field}")


@pytest.mark.usefixtures("bosley")
@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("file:///etc/passwd", "must be a host name (no scheme, port or path)"),
        ("gopher://127.0.0.1:6379/_FLUSHALL", "must be a host name (no scheme, port or path)"),
        ("track.example.com/postback", "must be a host name (no scheme, port or path)"),
        ("127.0.0.1", "destination address 127.0.0.1 is not allowed (loopback)"),
        ("0x7f000001", "destination address 127.0.0.1 is not allowed (loopback)"),
        ("169.254.169.254", "(cloud metadata)"),
        ("metadata.google.internal", "(cloud metadata)"),
        ("10.0.0.1", "(private network)"),
    ],
)
async def test_host_fields_must_be_public_host_names(
    client: httpx.AsyncClient, value: str, reason: str
) -> None:
    response = await post_credential(
        client, "everflow", {"tracking_domain": value, "network_id": "1"}
    )
    assert reason in reason_for(response, "credentials.tracking_domain")
    accepted = await post_credential(
        client, "everflow", {"tracking_domain": "track.example.com", "network_id": "1"}
    )
    assert accepted.status_code == 201, accepted.text
    path = f"/admin/v1/credentials/{accepted.json()['id']}"
    refused = await client.patch(path, json={"credentials": {"tracking_domain": value}})
    assert reason in reason_for(refused, "credentials.tracking_domain")
    assert (await client.get(path)).json()["credentials"]["tracking_domain"] == (
        "track.example.com"
    )


@pytest.mark.usefixtures("bosley")
@pytest.mark.parametrize(("url", "reason"), REFUSED_URLS)
async def test_base_url_must_be_a_public_destination(
    client: httpx.AsyncClient, url: str, reason: str
) -> None:
    in_settings = await post_credential(client, "meta", META, settings={"base_url": url})
    assert reason in reason_for(in_settings, "settings.base_url")
    in_credentials = await post_credential(client, "meta", META | {"base_url": url})
    assert reason in reason_for(in_credentials, "credentials.base_url")

    created = await post_credential(client, "meta", META)
    assert created.status_code == 201, created.text
    path = f"/admin/v1/credentials/{created.json()['id']}"
    patched = await client.patch(path, json={"settings": {"base_url": url}})
    assert reason in reason_for(patched, "settings.base_url")
    patched = await client.patch(path, json={"credentials": {"base_url": url}})
    assert reason in reason_for(patched, "credentials.base_url")


@pytest.mark.usefixtures("bosley")
async def test_a_name_that_resolves_to_a_private_address_is_refused(
    client: httpx.AsyncClient, dns: dict[str, list[str]]
) -> None:
    dns["hooks.corp.example"] = ["10.20.30.40"]
    dns["hooks.example.com"] = ["93.184.216.34"]
    response = await post_credential(client, "webhook", {"url": "https://hooks.corp.example/in"})
    assert reason_for(response, "credentials.url") == (
        "destination address 10.20.30.40 is not allowed (private network); "
        "hooks.corp.example resolves to it"
    )
    accepted = await post_credential(client, "webhook", {"url": "https://hooks.example.com/in"})
    assert accepted.status_code == 201, accepted.text


@pytest.mark.usefixtures("bosley")
async def test_a_platform_field_marked_as_a_url_is_checked_whatever_its_name(
    client: httpx.AsyncClient,
) -> None:
    platform = await client.post(
        "/admin/v1/platforms",
        json={
            "platform_code": "acme_postback",
            "name": "Acme postback",
            "auth_type": "none",
            "credential_fields": [
                {"name": "endpoint", "label": "Postback endpoint", "secret": False, "kind": "url"},
                {"name": "tracker", "label": "Tracker", "secret": False, "kind": "host"},
            ],
        },
    )
    assert platform.status_code == 201, platform.text
    try:
        assert [f.get("kind") for f in platform.json()["credential_fields"]] == ["url", "host"]
        response = await post_credential(
            client,
            "acme_postback",
            {"endpoint": "gopher://127.0.0.1:6379/_x", "tracker": "169.254.169.254"},
        )
        fields = {p["field"] for p in problems(response)}
        assert fields == {"credentials.endpoint"}  # the URL's syntax is judged first
        response = await post_credential(
            client,
            "acme_postback",
            {"endpoint": "http://10.0.0.1/postback", "tracker": "169.254.169.254"},
        )
        assert problems(response) == [
            {
                "field": "credentials.endpoint",
                "reason": "destination address 10.0.0.1 is not allowed (private network)",
            },
            {
                "field": "credentials.tracker",
                "reason": "destination address 169.254.169.254 is not allowed (cloud metadata)",
            },
        ]
    finally:  # the per-test cleanup keeps platform master data
        assert (await client.delete("/admin/v1/platforms/acme_postback")).status_code == 204


async def test_outbound_allow_lets_listed_hosts_and_networks_through(
    settings: Settings,
) -> None:
    allowed = settings.model_copy(update={"outbound_allow": "127.0.0.1, 10.0.0.0/8, sandbox"})
    app = create_app(allowed, run_worker=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://omnirelay", auth=AUTH
        ) as client,
    ):
        await create_storefronts(client, "bosley")
        for url in ("http://127.0.0.1:8090/webhook/in", "http://sandbox/webhook/in"):
            response = await post_credential(client, "webhook", {"url": url})
            assert response.status_code == 201, response.text
            assert (
                await client.delete(f"/admin/v1/credentials/{response.json()['id']}")
            ).status_code == 204
        response = await post_credential(
            client, "meta", META, settings={"base_url": "http://10.1.2.3:3128/meta"}
        )
        assert response.status_code == 201, response.text
        refused = await post_credential(client, "webhook", {"url": "http://127.0.0.2:8090/in"})
        assert "127.0.0.2 is not allowed (loopback)" in reason_for(refused, "credentials.url")
