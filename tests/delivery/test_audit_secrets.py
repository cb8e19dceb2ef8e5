"""The stored audit keeps no secret in any form: URL-encoded secrets of GA4, sGTM and
Snapchat, secrets shorter than 4 characters, credentials embedded in a webhook URL, and a
secret a platform echoes in an answer that the audit cuts short."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, quote_plus

from sqlalchemy import select

from omnirelay.delivery.recording import RESPONSE_LIMIT, BatchReport, SentRequest, plan_record
from omnirelay.destinations.base import DeliveryOutcome, HttpResult, Outcome, PreparedRequest
from omnirelay.models import DeliveryRequest
from omnirelay.redaction import MASK
from omnirelay.sandbox.core import SANDBOX
from tests.delivery.helpers import SANDBOX_BASE, add_storefront, customer_event, post_events
from tests.factories import store_as_before_the_url_rules

GA4_SECRET = "Ga4Sec/RET+y=2"
SNAP_TOKEN = "snap/Tok+en=&% 1"
SGTM_SECRET = "sgtm/Sec+ret=2"


def _forms(secret: str) -> set[str]:
    forms = {secret, quote(secret, safe=""), quote(secret), quote_plus(secret)}
    return forms | {form.lower() for form in forms if "%" in form}


async def _stored_urls(sessionmaker: Any) -> dict[str, list[str]]:
    async with sessionmaker() as session:
        rows = (await session.execute(select(DeliveryRequest))).scalars()
        urls: dict[str, list[str]] = {}
        for row in rows:
            urls.setdefault(row.destination_code, []).append(row.url)
        return urls


async def test_url_encoded_secrets_are_masked_in_the_stored_audit_and_event_detail(
    client, sessionmaker, worker
) -> None:
    await add_storefront(client, "direct")
    await add_storefront(client, "viasgtm")
    for platform, credentials in (
        ("ga4", {"measurement_id": "G-TEST12345", "api_secret": GA4_SECRET}),
        ("snapchat", {"pixel_id": "snap-pixel-1", "access_token": SNAP_TOKEN}),
    ):
        response = await client.post(
            "/admin/v1/credentials",
            json={
                "storefront_id": "direct",
                "platform_code": platform,
                "credentials": credentials,
                "settings": {"base_url": f"{SANDBOX_BASE}/{platform}"},
            },
        )
        assert response.status_code == 201, response.text
    response = await client.post(
        "/admin/v1/sgtm-configs",
        json={
            "storefront_id": "viasgtm",
            "sgtm_url": f"{SANDBOX_BASE}/sgtm",
            "client_type": "ga4",
            "measurement_id": "G-SGTM1234",
            "api_secret": SGTM_SECRET,
        },
    )
    assert response.status_code == 201, response.text
    await post_events(client, [customer_event(1, storefront="direct")])
    await post_events(client, [customer_event(2, storefront="viasgtm")])
    await worker.drain()

    # what the platforms received: the real secrets (so the masks below are not vacuous)
    assert SANDBOX.recorded("ga4")[0].query["api_secret"] == GA4_SECRET
    assert SANDBOX.recorded("snapchat")[0].query["access_token"] == SNAP_TOKEN
    assert SANDBOX.recorded("sgtm")[0].query["api_secret"] == SGTM_SECRET

    urls = await _stored_urls(sessionmaker)
    assert urls["ga4"] == [
        f"{SANDBOX_BASE}/ga4/mp/collect?measurement_id=G-TEST12345&api_secret={MASK}"
    ]
    assert urls["snapchat"] == [
        f"{SANDBOX_BASE}/snapchat/v3/snap-pixel-1/events?access_token={MASK}"
    ]
    assert urls["sgtm_ga4"] == [
        f"{SANDBOX_BASE}/sgtm/mp/collect?measurement_id=G-SGTM1234&api_secret={MASK}"
    ]
    listed = (await client.get("/admin/v1/events")).json()["items"]
    for item in listed:
        detail = (await client.get(f"/admin/v1/events/{item['id']}")).text
        for secret in (GA4_SECRET, SNAP_TOKEN, SGTM_SECRET):
            assert not [form for form in _forms(secret) if form in detail], (secret, detail)
        assert f"={MASK}" in detail


async def test_a_secret_shorter_than_four_characters_is_masked_in_the_url(
    client, sessionmaker, worker
) -> None:
    await add_storefront(client)
    response = await client.post(
        "/admin/v1/credentials",
        json={
            "storefront_id": "bosley",
            "platform_code": "ga4",
            "credentials": {"measurement_id": "G-TEST12345", "api_secret": "/%~"},
            "settings": {"base_url": f"{SANDBOX_BASE}/ga4"},
        },
    )
    assert response.status_code == 201, response.text
    await post_events(client, [customer_event(1)])
    await worker.drain()

    assert SANDBOX.recorded("ga4")[0].query["api_secret"] == "/%~"
    assert (await _stored_urls(sessionmaker))["ga4"] == [
        f"{SANDBOX_BASE}/ga4/mp/collect?measurement_id=G-TEST12345&api_secret={MASK}"
    ]


async def test_credentials_in_a_webhook_url_are_masked_in_the_audit(
    client, sessionmaker, worker, app
) -> None:
    await add_storefront(client)
    signing = "whk/Sig+n=&% 1"
    # the sandbox receiver checks the signature with the secret of its own URL
    query = f"/webhook/in?secret={quote_plus(signing)}&id=7"
    response = await client.post(
        "/admin/v1/credentials",
        json={
            "storefront_id": "bosley",
            "platform_code": "webhook",
            "credentials": {"url": f"http://sandbox{query}", "secret": signing},
        },
    )
    assert response.status_code == 201, response.text
    # user info is refused by the admin API now; a row stored before keeps it
    await store_as_before_the_url_rules(
        app,
        credential_id=response.json()["id"],
        credentials={"url": f"http://hook:pa%2Fss@sandbox{query}", "secret": signing},
    )
    await post_events(client, [customer_event(1)])
    await worker.drain()

    [received] = SANDBOX.recorded("webhook")
    assert received.response_status == 200  # signed and verified
    assert received.headers["authorization"].startswith("Basic ")  # the user info, as sent
    assert (await _stored_urls(sessionmaker))["webhook"] == [
        f"http://{MASK}:{MASK}@sandbox/webhook/in?secret={MASK}&id=7"
    ]


def _record(result: HttpResult, request: PreparedRequest) -> dict[str, Any]:
    sent = SentRequest(
        "meta", request, result, 12, [DeliveryOutcome(1, Outcome.RETRY, result.body[:300])], b"{}"
    )
    record = plan_record(
        {},
        BatchReport(sent=[sent]),
        datetime.now(UTC),
        next_attempt=lambda failures, after: datetime.now(UTC) + timedelta(seconds=60),
        max_attempts=5,
    )
    [row] = record.requests
    return row


def test_an_echoed_secret_is_scrubbed_before_the_answer_is_cut_to_the_audit_limit() -> None:
    token = "EAAB/meta+Token=&% 123456"
    request = PreparedRequest(
        "POST",
        f"https://graph.example/v25.0/1/events?access_token={quote(token, safe='')}",
        [1],
        secrets=[token],
    )
    # the token straddles the audit's limit: cut first, half of it would be kept
    body = "x" * (RESPONSE_LIMIT - 10) + f"echo {token} " + "y" * 100
    row = _record(HttpResult(500, body=body, error=f"echo {quote_plus(token)}"), request)
    # masked whole, then cut: the cut falls in the mask
    assert row["response_body"] == "x" * (RESPONSE_LIMIT - 10) + "echo " + MASK[:5]
    assert row["error"] == f"echo {MASK}"
    assert row["url"] == f"https://graph.example/v25.0/1/events?access_token={MASK}"


def test_credential_headers_are_scrubbed_even_when_not_listed_and_never_stored() -> None:
    request = PreparedRequest(
        "POST",
        "https://api.example/events",
        [1],
        headers={"Authorization": "Bearer hdr/Tok+en=1", "X-Api-Key": "k/="},
    )
    echoed = '{"headers": {"authorization": "Bearer hdr/Tok+en=1", "x-api-key": "k/="}}'
    row = _record(HttpResult(401, body=echoed), request)
    assert row["response_body"] == (
        f'{{"headers": {{"authorization": "{MASK}", "x-api-key": "{MASK}"}}}}'
    )
    assert not any("header" in column for column in row)  # the audit keeps no headers
