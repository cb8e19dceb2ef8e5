"""API keys: scopes per endpoint, storefront limits, rotation, revocation, failed logins."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
from sqlalchemy import select
from typer.testing import CliRunner

from omnirelay.models import ApiKey
from tests.delivery.helpers import add_storefront, customer_event

BATCH_PATH = "/v1/events"


async def _key(client: httpx.AsyncClient, *scopes: str, **extra: Any) -> dict[str, Any]:
    response = await client.post(
        "/admin/v1/keys", json={"name": "oms", "scopes": list(scopes), **extra}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def _as(app: Any, key: dict[str, Any], bearer: bool = False) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)
    if bearer:
        return httpx.AsyncClient(
            transport=transport,
            base_url="http://omnirelay",
            headers={"authorization": f"Bearer {key['bearer_token']}"},
        )
    return httpx.AsyncClient(
        transport=transport, base_url="http://omnirelay", auth=(key["key_id"], key["secret"])
    )


def _batch(*items: dict[str, Any]) -> dict[str, Any]:
    return {"data": list(items)}


async def test_a_key_is_shown_once_and_stored_as_a_hash(
    client: httpx.AsyncClient, sessionmaker: Any
) -> None:
    key = await _key(client, "ingest")
    assert key["key_id"].startswith("ork_") and len(key["secret"]) >= 40
    listed = (await client.get("/admin/v1/keys")).json()
    assert [k["key_id"] for k in listed] == [key["key_id"]]
    assert "secret" not in listed[0] and key["secret"] not in str(listed)
    async with sessionmaker() as session:
        row = (await session.execute(select(ApiKey))).scalar_one()
    assert key["secret"] not in str(row.__dict__) and len(row.secret_hash) == 64


async def test_each_scope_opens_its_endpoints_only(app: Any, client: httpx.AsyncClient) -> None:
    await add_storefront(client)
    ingest, read = await _key(client, "ingest"), await _key(client, "read")
    async with _as(app, ingest) as oms, _as(app, read, bearer=True) as analyst:
        posted = await oms.post(BATCH_PATH, json=_batch(customer_event(1)))
        assert posted.status_code == 200 and posted.json()["accepted"] == 1
        for method, path in [
            ("GET", "/admin/v1/events"),
            ("GET", "/admin/v1/storefronts"),
            ("GET", "/admin/v1/credentials"),
            ("GET", "/admin/v1/keys"),
        ]:
            answer = await oms.request(method, path)
            assert answer.status_code == 403, (path, answer.text)
            assert answer.json()["error"] == "forbidden"
        assert (await analyst.get("/admin/v1/events")).status_code == 200
        denied = [
            await analyst.post(BATCH_PATH, json=_batch(customer_event(2))),
            await analyst.post("/admin/v1/deliveries/replay", json={}),
            await analyst.get("/admin/v1/credentials"),
            await analyst.post("/admin/v1/keys", json={"name": "x", "scopes": ["admin"]}),
        ]
        assert [d.status_code for d in denied] == [403, 403, 403, 403]


async def test_an_unknown_key_or_wrong_secret_is_401_not_403(
    app: Any, client: httpx.AsyncClient
) -> None:
    key = await _key(client, "read")
    wrong = dict(key, secret="not-the-secret", bearer_token=f"{key['key_id']}.nope")
    unknown = dict(key, key_id="ork_0000000000000000")
    for presented, bearer in [(wrong, False), (wrong, True), (unknown, False)]:
        async with _as(app, presented, bearer) as caller:
            answer = await caller.get("/admin/v1/events")
        assert answer.status_code == 401 and answer.json()["error"] == "unauthorized"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://omnirelay"
    ) as anonymous:
        assert (await anonymous.get("/admin/v1/events")).status_code == 401


async def test_an_ingest_key_limited_to_a_storefront_cannot_post_for_another(
    app: Any, client: httpx.AsyncClient
) -> None:
    await add_storefront(client, "bosley")
    await add_storefront(client, "other")
    key = await _key(client, "ingest", storefronts=["bosley"])
    foreign = customer_event(2) | {"storefront_id": "other"}
    async with _as(app, key) as oms:
        answer = await oms.post(BATCH_PATH, json=_batch(customer_event(1), foreign))
    body = answer.json()
    assert answer.status_code == 200 and body["accepted"] == 1
    assert [(r["index"], r["field"], r["reason"]) for r in body["rejected"]] == [
        (1, "storefront_id", "this key may not post events for storefront 'other'")
    ]


async def test_a_key_for_an_unknown_storefront_is_refused(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        "/admin/v1/keys", json={"name": "x", "scopes": ["ingest"], "storefronts": ["nope"]}
    )
    assert answer.status_code == 422
    assert answer.json()["detail"] == [
        {"field": "storefronts.0", "reason": "unknown storefront 'nope'"}
    ]


async def test_rotation_keeps_the_old_secret_during_the_overlap_only(
    app: Any, client: httpx.AsyncClient
) -> None:
    key = await _key(client, "read")
    kept = (await client.post(f"/admin/v1/keys/{key['key_id']}/rotate", json={})).json()
    async with _as(app, key) as old, _as(app, kept) as new:
        assert (await old.get("/admin/v1/events")).status_code == 200
        assert (await new.get("/admin/v1/events")).status_code == 200
    ended = (
        await client.post(f"/admin/v1/keys/{key['key_id']}/rotate", json={"overlap_seconds": 0})
    ).json()
    async with _as(app, kept) as previous, _as(app, ended) as current:
        assert (await previous.get("/admin/v1/events")).status_code == 401
        assert (await current.get("/admin/v1/events")).status_code == 200


async def test_a_revoked_key_is_refused_at_once_and_use_is_noted(
    app: Any, client: httpx.AsyncClient
) -> None:
    key = await _key(client, "read")
    async with _as(app, key) as caller:
        assert (await caller.get("/admin/v1/events")).status_code == 200
        # the use is noted beside the request, in a write of its own
        for _ in range(200):
            shown = (await client.get(f"/admin/v1/keys/{key['key_id']}")).json()
            if shown["last_used_at"] is not None:
                break
            await asyncio.sleep(0.02)
        assert shown["last_used_at"] is not None
        revoked = await client.delete(f"/admin/v1/keys/{key['key_id']}")
        assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
        assert (await caller.get("/admin/v1/events")).status_code == 401
    assert (await client.get("/admin/v1/keys")).json() == []
    assert len((await client.get("/admin/v1/keys?include_revoked=true")).json()) == 1


async def test_failed_logins_are_logged_without_the_password_and_limited(
    app: Any, client: httpx.AsyncClient, caplog: Any
) -> None:
    app.state.login_guard.per_minute = 5
    transport = httpx.ASGITransport(app=app)
    caplog.set_level(logging.WARNING, logger="omnirelay.auth")
    async with httpx.AsyncClient(
        transport=transport, base_url="http://omnirelay", auth=("admin", "guess-42")
    ) as attacker:
        answers = [(await attacker.get("/admin/v1/events")).status_code for _ in range(7)]
    assert answers == [401] * 5 + [429] * 2
    right = await client.get("/admin/v1/events")  # same client address: still limited
    assert right.status_code == 429 and int(right.headers["retry-after"]) > 0
    failures = [r.getMessage() for r in caplog.records if r.name == "omnirelay.auth"]
    assert len(failures) == 5 and all("'admin'" in line for line in failures)
    assert not any("guess-42" in line for line in failures)


async def test_malformed_credentials_count_as_failed_logins(
    app: Any, client: httpx.AsyncClient, caplog: Any
) -> None:
    app.state.login_guard.per_minute = 4
    caplog.set_level(logging.WARNING, logger="omnirelay.auth")
    malformed = ["Basic !!!", "Basic " + "YWRtaW4=", "Bearer no-dot", "Digest x"]  # "admin"
    answers = [
        (await client.get("/admin/v1/events", headers={"authorization": h}, auth=None)).status_code
        for h in [*malformed, "Basic !!!"]
    ]
    assert answers == [401] * 4 + [429]
    assert (await client.get("/admin/v1/events")).status_code == 429  # the right one too
    failures = [r.getMessage() for r in caplog.records if r.name == "omnirelay.auth"]
    assert len(failures) == 4 and all("authentication failed" in line for line in failures)


def test_keys_cli_creates_lists_and_revokes(settings: Any, monkeypatch: Any) -> None:
    from omnirelay import config
    from omnirelay.cli import app as cli

    monkeypatch.setattr(config, "get_settings", lambda: settings)
    runner = CliRunner()
    created = runner.invoke(cli, ["keys", "create", "--name", "oms", "--scope", "ingest"])
    assert created.exit_code == 0, created.output
    key_id = created.output.split()[0]
    assert "secret (shown once):" in created.output
    listed = runner.invoke(cli, ["keys", "list"])
    assert key_id in listed.output and "scopes=ingest" in listed.output
    revoked = runner.invoke(cli, ["keys", "revoke", key_id])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert key_id not in runner.invoke(cli, ["keys", "list"]).output
    bad = runner.invoke(cli, ["keys", "create", "--name", "x", "--scope", "root"])
    assert bad.exit_code == 2 and "scopes.0" in bad.output


async def test_a_key_secret_is_in_no_log_line_stored_row_or_later_answer(
    app: Any, client: httpx.AsyncClient, caplog: Any, monkeypatch: Any
) -> None:
    from tests.test_secret_leaks import _all_loggers_at_debug, _stored_values, forms

    _all_loggers_at_debug(caplog, monkeypatch)
    await add_storefront(client)
    key = await _key(client, "ingest", "read")
    async with _as(app, key) as oms, _as(app, key, bearer=True) as bearer:
        await oms.post(BATCH_PATH, json=_batch(customer_event(1)))
        await bearer.get("/admin/v1/events")
    last = "1" if key["key_id"].endswith("0") else "0"
    wrong = dict(key, key_id=key["key_id"][:-1] + last)  # a near miss: logged as a failure
    async with _as(app, wrong) as attacker:
        assert (await attacker.get("/admin/v1/events")).status_code == 401
    rotated = (await client.post(f"/admin/v1/keys/{key['key_id']}/rotate", json={})).json()
    answers = [
        (await client.get("/admin/v1/keys")).text,
        (await client.get(f"/admin/v1/keys/{key['key_id']}")).text,
        (await client.get("/admin/v1/events")).text,
    ]
    places = [r.getMessage() for r in caplog.records] + [v for _, v in await _stored_values(app)]
    for secret in (key["secret"], rotated["secret"]):
        for form in forms(secret):
            assert not [p for p in places + answers if form in p]
    assert len(places) > 20
