"""Secrets stay secret, end to end: every destination that has a sender is configured with
secrets full of ``/ + = & %`` and spaces (three of them shorter than 4 characters), events
go out through the worker to the sandbox (first to a gateway that answers 500 echoing the
URL and headers it received, then with the sandbox's own faults), and no secret appears,
raw or encoded, in any admin answer, in any log line at DEBUG of any logger, or in any
column of any stored row."""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import MetaData, select

from omnirelay.config import Settings
from omnirelay.pipeline import create_worker
from omnirelay.sandbox.app import create_sandbox_app
from omnirelay.sandbox.core import SANDBOX, FaultConfig
from tests.delivery.helpers import SANDBOX_BASE, customer_event, make_all_due
from tests.factories import envelope, store_as_before_the_url_rules

ADMIN_PASSWORD = "adm/In+pw=&% 11"
WEBHOOK_USER = "hookuser"
SECRETS: dict[str, str] = {
    "meta access_token": "EAAB/me+ta=to&ken% 1",
    "ga4 api_secret (short)": "/%~",
    "tiktok access_token": "tik/tok+tok=en&% 2",
    "snapchat access_token": "snap/Tok+en=&% 3",
    "pinterest access_token": "pin/Bear+er=&% 4",
    "webhook signing secret = its URL's ?secret=": "whk/Sig+n=&% 5",
    "webhook URL ?token=": "url/Tok+en=&% 6",
    "webhook URL password": "hook/pa ss+=&%7",
    "webhook X-Auth-Token header": "hdr/Tok+en=&% 8",
    "webhook X-Api-Key header (short)": "+ ~",
    "sGTM GA4 api_secret": "sgtm/Sec+ret=&% 9",
    "sGTM custom X-Api-Key header": "sgtm/Key+=&% 10",
    "sGTM custom X-Short header (short)": "/+?",
    "admin BASIC_AUTH_PASSWORD": ADMIN_PASSWORD,
}
DERIVED: dict[str, str] = {
    # what httpx sends as Basic credentials for the webhook URL's user info
    "webhook Basic credentials": base64.b64encode(
        f"{WEBHOOK_USER}:{SECRETS['webhook URL password']}".encode()
    ).decode(),
    "admin Basic credentials": base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode(),
}
WEBHOOK_SIGNING = SECRETS["webhook signing secret = its URL's ?secret="]
WEBHOOK_URL = (
    f"http://{WEBHOOK_USER}:{quote(SECRETS['webhook URL password'], safe='')}@sandbox/webhook/in"
    f"?secret={quote_plus(WEBHOOK_SIGNING)}&token={quote_plus(SECRETS['webhook URL ?token='])}"
    "&id=7"
)
WEBHOOK_URL_WITHOUT_USER = WEBHOOK_URL.replace(WEBHOOK_URL.split("@")[0] + "@", "http://")
WEBHOOK_CREDENTIALS = {
    "url": WEBHOOK_URL,
    "secret": WEBHOOK_SIGNING,
    "headers": {
        "X-Auth-Token": SECRETS["webhook X-Auth-Token header"],
        "X-Api-Key": SECRETS["webhook X-Api-Key header (short)"],
    },
}
MIN_PLACES_SEARCHED = 1000


def _lower_hex(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda match: match.group().lower(), text)


def forms(secret: str) -> set[str]:
    """How a secret can be written: raw, URL-encoded, JSON-escaped, base64. URL-safe base64
    of a secret under 4 characters is 4 characters of the alphabet Fernet tokens are
    written in, found by chance in stored ciphertext: it is left out for those."""
    encoded = {quote(secret, safe=""), quote(secret), quote_plus(secret)}
    found = {secret, *encoded, *(_lower_hex(e) for e in encoded)}
    found |= {json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    raw = secret.encode()
    found.add(base64.b64encode(raw).decode().rstrip("="))
    if len(secret) >= 4:
        found.add(base64.urlsafe_b64encode(raw).decode().rstrip("="))
    return found


SEARCHED = [
    (label, form) for label, secret in {**SECRETS, **DERIVED}.items() for form in forms(secret)
]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"basic_auth_password": SecretStr(ADMIN_PASSWORD)})


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://omnirelay",
        auth=("admin", ADMIN_PASSWORD),
    ) as http:
        yield http


class EchoingGateway(httpx.AsyncBaseTransport):
    """In front of the sandbox; while ``echo`` is on it answers 500 with what it received
    (the URL and the headers first, so they fall in the part of the answer an error keeps),
    as gateways and some platforms do."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.echo = False
        self.echoed = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self.echo:
            return await self.inner.handle_async_request(request)
        self.echoed += 1
        body = await request.aread()
        received = {
            "url": str(request.url),
            "headers": dict(request.headers),
            "body": body.decode("utf-8", "replace"),
        }
        return httpx.Response(500, json={"error": {"message": "upstream failed", **received}})


def _all_loggers_at_debug(caplog: pytest.LogCaptureFixture, monkeypatch: Any) -> None:
    names = ["", "httpx", "httpcore", "sqlalchemy", "aiosqlite", "asyncpg", "asyncmy"]
    for name in [*names, *logging.root.manager.loggerDict]:
        caplog.set_level(logging.DEBUG, logger=name)
        logger = logging.getLogger(name)
        if logger.disabled:
            monkeypatch.setattr(logger, "disabled", False)


async def _configure(call: Callable[..., Any], app: Any) -> None:
    for code in ("direct", "viaga4", "viacustom"):
        await call(
            "POST",
            "/admin/v1/storefronts",
            201,
            json={"storefront_id": code, "name": code, "is_active": True},
        )
    platforms: dict[str, dict[str, Any]] = {
        "meta": {"pixel_id": "1234567890", "access_token": SECRETS["meta access_token"]},
        "ga4": {"measurement_id": "G-TEST12345", "api_secret": SECRETS["ga4 api_secret (short)"]},
        "tiktok": {"pixel_code": "CTEST1234567890", "access_token": SECRETS["tiktok access_token"]},
        "snapchat": {"pixel_id": "snap-pixel-1", "access_token": SECRETS["snapchat access_token"]},
        "pinterest": {
            "ad_account_id": "549755885175",
            "access_token": SECRETS["pinterest access_token"],
        },
    }
    for platform, credentials in platforms.items():
        await call(
            "POST",
            "/admin/v1/credentials",
            201,
            json={
                "storefront_id": "direct",
                "platform_code": platform,
                "credentials": credentials,
                "settings": {"base_url": f"{SANDBOX_BASE}/{platform}"},
            },
        )
    webhook = await call(
        "POST",
        "/admin/v1/credentials",
        201,
        json={
            "storefront_id": "direct",
            "platform_code": "webhook",
            "credentials": WEBHOOK_CREDENTIALS | {"url": WEBHOOK_URL_WITHOUT_USER},
        },
    )
    # the admin API refuses user info in a URL (and says so without echoing it); a row
    # stored before that rule still holds it, and is sent with it
    await call(
        "PATCH",
        f"/admin/v1/credentials/{webhook['id']}",
        422,
        json={"credentials": {"url": WEBHOOK_URL}},
    )
    await store_as_before_the_url_rules(
        app, credential_id=webhook["id"], credentials=WEBHOOK_CREDENTIALS
    )
    await call("PATCH", f"/admin/v1/credentials/{webhook['id']}", 200, json={"is_active": True})
    await call(
        "POST",
        "/admin/v1/sgtm-configs",
        201,
        json={
            "storefront_id": "viaga4",
            "sgtm_url": f"{SANDBOX_BASE}/sgtm",
            "client_type": "ga4",
            "measurement_id": "G-SGTM1234",
            "api_secret": SECRETS["sGTM GA4 api_secret"],
        },
    )
    await call(
        "POST",
        "/admin/v1/sgtm-configs",
        201,
        json={
            "storefront_id": "viacustom",
            "sgtm_url": f"{SANDBOX_BASE}/sgtm",
            "client_type": "custom",
            "custom_headers": {
                "X-Api-Key": SECRETS["sGTM custom X-Api-Key header"],
                "X-Short": SECRETS["sGTM custom X-Short header (short)"],
            },
        },
    )
    # refused input: the answer names the field, never the value
    await call(
        "POST",
        "/admin/v1/credentials",
        422,
        json={
            "storefront_id": "viaga4",
            "platform_code": "webhook",
            "credentials": {
                "url": f"hooks.example/in?token={SECRETS['webhook URL ?token=']}",
                "access_tokn": SECRETS["meta access_token"],
            },
        },
    )


def _assert_the_platforms_got_the_secrets() -> None:
    """What was sent carries the real secrets, so the search below is not vacuous."""

    def only(platform: str, path_part: str = "") -> Any:
        return next(r for r in SANDBOX.recorded(platform) if path_part in r.path)

    assert only("meta").query["access_token"] == SECRETS["meta access_token"]
    assert only("ga4").query["api_secret"] == SECRETS["ga4 api_secret (short)"]
    assert only("tiktok").headers["access-token"] == SECRETS["tiktok access_token"]
    assert only("snapchat").query["access_token"] == SECRETS["snapchat access_token"]
    pinterest = only("pinterest").headers["authorization"]
    assert pinterest == f"Bearer {SECRETS['pinterest access_token']}"
    webhook = only("webhook")
    assert webhook.response_status == 200  # signature verified with the URL's ?secret=
    assert webhook.headers["authorization"] == f"Basic {DERIVED['webhook Basic credentials']}"
    assert webhook.headers["x-auth-token"] == SECRETS["webhook X-Auth-Token header"]
    assert webhook.headers["x-api-key"] == SECRETS["webhook X-Api-Key header (short)"]
    assert webhook.query["token"] == SECRETS["webhook URL ?token="]
    assert only("sgtm", "/mp/collect").query["api_secret"] == SECRETS["sGTM GA4 api_secret"]
    custom = only("sgtm", "/sgtm/collect").headers
    assert custom["x-api-key"] == SECRETS["sGTM custom X-Api-Key header"]
    assert custom["x-short"] == SECRETS["sGTM custom X-Short header (short)"]


async def _stored_values(app: Any) -> list[tuple[str, str]]:
    """Every column of every row of every table, as text."""
    places: list[tuple[str, str]] = []
    async with app.state.engine.connect() as connection:
        metadata = MetaData()
        await connection.run_sync(lambda sync: metadata.reflect(sync))
        for table in metadata.sorted_tables:
            for number, row in enumerate((await connection.execute(select(table))).all()):
                for column, value in zip(table.columns, row, strict=True):
                    if value is None:
                        continue
                    text = (
                        value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
                    )
                    places.append((f"{table.name}[{number}].{column.name}", text))
    return places


async def test_no_secret_in_any_answer_log_line_or_stored_row(
    app: Any,
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: Any,
    record_property: Callable[[str, object], None],
) -> None:
    _all_loggers_at_debug(caplog, monkeypatch)
    answers: list[tuple[str, str]] = []

    async def call(method: str, path: str, status: int, **kwargs: Any) -> Any:
        response = await client.request(method, path, **kwargs)
        answers.append((f"{method} {path}", f"{response.headers}\n{response.text}"))
        assert response.status_code == status, response.text
        return response.json() if response.content else None

    SANDBOX.reset()
    gateway = EchoingGateway(httpx.ASGITransport(app=create_sandbox_app()))
    http = httpx.AsyncClient(transport=gateway, base_url=SANDBOX_BASE)
    worker = create_worker(
        app.state.settings, app.state.sessionmaker, app.state.vault, app.state.metrics, client=http
    )
    searched = list(SEARCHED)
    try:
        await _configure(call, app)
        # an ingest key, shown once (that answer is the one place it may appear), then used
        # as Basic credentials and as a Bearer token
        made = await client.post("/admin/v1/keys", json={"name": "oms", "scopes": ["ingest"]})
        key = made.json()
        basic = base64.b64encode(f"{key['key_id']}:{key['secret']}".encode()).decode()
        for label, secret in (
            ("ingest key secret", key["secret"]),
            ("ingest key Bearer token", key["bearer_token"]),
            ("ingest key Basic credentials", basic),
        ):
            searched += [(label, form) for form in forms(secret)]
        as_key = [
            {"auth": (key["key_id"], key["secret"])},
            {"auth": None, "headers": {"authorization": f"Bearer {key['bearer_token']}"}},
            {"auth": (key["key_id"], key["secret"])},
        ]
        for n, code in enumerate(("direct", "viaga4", "viacustom")):
            items = [
                customer_event(10 * n + 1, storefront=code),
                customer_event(10 * n + 2, storefront=code, event_name="consult_started"),
            ]
            await call("POST", "/v1/events", 200, json=envelope(items), **as_key[n])
        wrong = await client.post(
            "/v1/events", json=envelope([]), auth=(key["key_id"], key["secret"][:-1] + "x")
        )
        assert wrong.status_code == 401
        gateway.echo = True  # every request answered 500 with what it carried
        await worker.drain()
        assert gateway.echoed >= 8
        gateway.echo = False
        SANDBOX.faults["tiktok"] = FaultConfig(kind="invalid")  # permanent
        SANDBOX.faults["pinterest"] = FaultConfig(kind="503", retry_after=1)
        await make_all_due(app.state.sessionmaker)
        await worker.drain()
        SANDBOX.faults.clear()
        await make_all_due(app.state.sessionmaker)
        await worker.drain()
        _assert_the_platforms_got_the_secrets()

        for collection in ("storefronts", "credentials", "sgtm-configs", "platforms"):
            page = await call("GET", f"/admin/v1/{collection}?limit=200", 200)
            for item in page["items"]:
                await call("GET", f"/admin/v1/{collection}/{item['id']}", 200)
        events = (await call("GET", "/admin/v1/events?limit=1000", 200))["items"]
        assert len(events) == 6
        details = [await call("GET", f"/admin/v1/events/{e['id']}", 200) for e in events]
        for path in ("/health", "/health/ready", "/metrics"):
            response = await client.get(path)
            answers.append((f"GET {path}", f"{response.headers}\n{response.text}"))
    finally:
        await http.aclose()
        SANDBOX.reset()

    # the errors were recorded (echoed answers, refusals), so they were searched too
    statuses = {a["status"] for d in details for a in d["attempts"]}
    assert {"retry", "permanent", "delivered"} <= statuses
    echoed = [a for d in details for a in d["attempts"] if "upstream failed" in str(a)]
    assert len(echoed) >= 8

    logs = [
        (f"log {r.name} {r.levelname}", r.getMessage() + (f"\n{r.exc_text}" if r.exc_text else ""))
        for r in caplog.records
    ]
    assert any(name.startswith("log httpx") for name, _ in logs)  # the request lines were seen
    stored = await _stored_values(app)
    places = answers + logs + stored
    leaks = [
        (label, where, text[max(0, text.find(form) - 60) : text.find(form) + 60])
        for where, text in places
        for label, form in searched
        if form in text
    ]
    assert leaks == []
    counts = {"answers": len(answers), "log lines": len(logs), "stored values": len(stored)}
    record_property("places_searched", len(places))
    record_property("places_searched_by_kind", counts)
    print(f"\nsecret leak search: {len(places)} places searched {counts}, {len(searched)} forms")
    assert len(places) >= MIN_PLACES_SEARCHED
