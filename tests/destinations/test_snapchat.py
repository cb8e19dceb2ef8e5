"""Snapchat Conversions API v3: payload building, classification, and a sandbox round trip."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from fastapi import FastAPI

from omnirelay.destinations.base import (
    DestinationTarget,
    HttpResult,
    OutboundEvent,
    Outcome,
    PreparedRequest,
)
from omnirelay.destinations.snapchat import SnapchatConversionsApi
from omnirelay.sandbox.core import SANDBOX
from omnirelay.sandbox.snapchat import router

TOKEN = "snap-secret-token"
PIXEL = "1ec32188-754e-4be2-8e55-c949a984a39f"
TARGET = DestinationTarget(credentials={"pixel_id": PIXEL, "access_token": TOKEN})
SNAP = SnapchatConversionsApi()


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def make_event(
    delivery_id: int = 1,
    event_type: str = "purchase_completed",
    name: str = "PURCHASE",
    age: timedelta = timedelta(hours=1),
    **payload_overrides: Any,
) -> OutboundEvent:
    payload: dict[str, Any] = {
        "event_name": event_type,
        "order_id": "2025020100003333",
        "order_revenue": 80.79,
        "currency": "usd",
        "email": " Jane.Doe@Example.com ",
        "phone": "+1 (650) 555-1234",
        "external_id": "cust-42",
        "client_ip_address": "203.0.113.9",
        "user_agent": "Mozilla/5.0",
        "first_name": "Jane",
        "last_name": "Doe",
        "city": "Palo Alto",
        "state": "CA",
        "zip": "94301-1234",
        "country": "US",
        "page_url": "https://shop.example.com/checkout",
        "sc_click_id": "click-1",
        "_scid": "cookie-1",
    }
    payload.update(payload_overrides)
    return OutboundEvent(
        delivery_id=delivery_id,
        event_id="2025020100003333",
        event_type=event_type,
        destination_event_name=name,
        event_time=datetime.now(UTC) - age,
        storefront_code="bosley",
        payload={k: v for k, v in payload.items() if v is not None},
    )


def only_event(request: PreparedRequest) -> dict[str, Any]:
    data: list[dict[str, Any]] = request.json_body["data"]
    assert len(data) == 1
    return data[0]


def result(status: int, body: Any, headers: dict[str, str] | None = None) -> HttpResult:
    return HttpResult(status_code=status, headers=headers or {}, body=json.dumps(body))


async def test_purchase_payload_fields_and_hashing() -> None:
    event = make_event()
    prepared = SNAP.prepare([event], TARGET)
    assert prepared.rejected == []
    (request,) = prepared.requests
    assert request.method == "POST"
    assert request.url == f"https://tr.snapchat.com/v3/{PIXEL}/events?access_token={TOKEN}"
    assert TOKEN in request.secrets
    body = only_event(request)
    assert body["event_name"] == "PURCHASE"
    assert body["event_time"] == int(event.event_time.timestamp())
    assert body["event_id"] == "2025020100003333"
    assert body["action_source"] == "WEB"
    assert body["event_source_url"] == "https://shop.example.com/checkout"
    user = body["user_data"]
    assert user["em"] == [sha("jane.doe@example.com")]
    assert user["ph"] == [sha("16505551234")]  # country code, digits only, no '+'
    assert user["fn"] == [sha("jane")] and user["ln"] == [sha("doe")]
    assert user["ct"] == [sha("paloalto")]
    assert user["st"] == [sha("ca")] and user["zp"] == [sha("94301")]
    assert user["country"] == [sha("us")]
    assert user["external_id"] == [sha("cust-42")]
    assert user["client_ip_address"] == "203.0.113.9"
    assert user["client_user_agent"] == "Mozilla/5.0"
    assert user["sc_click_id"] == "click-1" and user["sc_cookie1"] == "cookie-1"
    custom = body["custom_data"]
    assert custom == {"value": 80.79, "currency": "USD", "order_id": "2025020100003333"}


async def test_non_purchase_dedup_id_is_unique_per_event_type() -> None:
    consult = make_event(1, "consult_started", "SIGN_UP", order_revenue=None)
    rx = make_event(2, "rx_issued", "CUSTOM_EVENT_1", order_revenue=None)
    (request,) = SNAP.prepare([consult, rx], TARGET).requests
    ids = [e["event_id"] for e in request.json_body["data"]]
    assert ids == ["2025020100003333:consult_started", "2025020100003333:rx_issued"]
    assert all("order_id" not in e.get("custom_data", {}) for e in request.json_body["data"])


async def test_value_fallback_items_and_default_currency() -> None:
    items = [{"sku": "A1", "quantity": 2, "price": 10.5}, {"id": "B2"}, {"name": "no id"}]
    event = make_event(order_revenue=None, value="42.5", currency=None, items=items)
    custom = only_event(SNAP.prepare([event], TARGET).requests[0])["custom_data"]
    assert custom["value"] == 42.5 and custom["currency"] == "USD"
    assert custom["content_ids"] == ["A1", "B2"]
    assert custom["contents"][0] == {"id": "A1", "quantity": 2, "item_price": 10.5}
    assert custom["num_items"] == 3


async def test_already_hashed_values_pass_through() -> None:
    hashed = sha("someone@example.com").upper()
    event = make_event(email=hashed, phone=sha("447700900123"))
    user = only_event(SNAP.prepare([event], TARGET).requests[0])["user_data"]
    assert user["em"] == [hashed.lower()]
    assert user["ph"] == [sha("447700900123")]


async def test_bad_value_dropped_with_warning() -> None:
    event = make_event(email="not-an-email", phone="12")
    (request,) = SNAP.prepare([event], TARGET).requests
    user = only_event(request)["user_data"]
    assert "em" not in user and "ph" not in user
    assert "not-an-email" not in json.dumps(request.json_body)
    warnings = request.warnings[1]
    assert any("email" in w for w in warnings) and any("phone" in w for w in warnings)


async def test_old_event_rejected_outside_37_day_window() -> None:
    fresh = make_event(1, age=timedelta(days=36))
    stale = make_event(2, age=timedelta(days=38))
    prepared = SNAP.prepare([fresh, stale], TARGET)
    assert [r.delivery_id for r in prepared.rejected] == [2]
    assert prepared.rejected[0].outcome is Outcome.PERMANENT
    assert "37-day" in (prepared.rejected[0].error or "")
    assert prepared.requests[0].delivery_ids == [1]


async def test_events_snap_would_refuse_are_rejected_up_front() -> None:
    no_value = make_event(1, order_revenue=None)
    no_pii = make_event(2, email=None, phone=None, client_ip_address=None)
    no_url = make_event(3, page_url=None)
    prepared = SNAP.prepare([no_value, no_pii, no_url], TARGET)
    reasons = {r.delivery_id: r.error or "" for r in prepared.rejected}
    assert "value" in reasons[1] and "insufficient" in reasons[2]
    assert "event_source_url" in reasons[3]
    assert prepared.requests == []
    with_fallback = DestinationTarget(
        credentials=TARGET.credentials, settings={"event_source_url": "https://shop.example.com"}
    )
    body = only_event(SNAP.prepare([no_url], with_fallback).requests[0])
    assert body["event_source_url"] == "https://shop.example.com"


async def test_missing_credentials_reject_everything() -> None:
    events = [make_event(1), make_event(2)]
    prepared = SNAP.prepare(events, DestinationTarget(credentials={"pixel_id": PIXEL}))
    assert prepared.requests == []
    assert [(r.delivery_id, r.outcome) for r in prepared.rejected] == [
        (1, Outcome.PERMANENT),
        (2, Outcome.PERMANENT),
    ]
    assert "access_token" in (prepared.rejected[0].error or "")


async def test_batches_split_at_max_batch_size() -> None:
    count = SnapchatConversionsApi.max_batch_size + 1
    events = [make_event(i) for i in range(count)]
    requests = SNAP.prepare(events, TARGET).requests
    assert [len(r.json_body["data"]) for r in requests] == [2000, 1]
    assert requests[1].delivery_ids == [2000]


async def test_base_url_override_and_validate_mode() -> None:
    target = DestinationTarget(
        credentials={**TARGET.credentials, "base_url": "http://127.0.0.1:8090/snapchat/"},
        settings={"validate": True},
    )
    url = SNAP.prepare([make_event()], target).requests[0].url
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == "http://127.0.0.1:8090"
    assert parts.path == f"/snapchat/v3/{PIXEL}/events/validate"
    assert parse_qs(parts.query) == {"access_token": [TOKEN]}
    code_target = DestinationTarget(
        credentials=TARGET.credentials, settings={"test_event_code": "x"}
    )
    assert "/events/validate?" in SNAP.prepare([make_event()], code_target).requests[0].url


def two_event_request() -> PreparedRequest:
    return SNAP.prepare([make_event(1), make_event(2)], TARGET).requests[0]


async def test_classify_success() -> None:
    outcomes = SNAP.classify(two_event_request(), result(200, {"status": "VALID", "reason": "ok"}))
    assert [o.outcome for o in outcomes] == [Outcome.DELIVERED, Outcome.DELIVERED]


async def test_classify_429_with_retry_after_and_5xx() -> None:
    request = two_event_request()
    throttled = SNAP.classify(request, result(429, {"status": "INVALID"}, {"Retry-After": "30"}))
    assert {(o.outcome, o.retry_after) for o in throttled} == {(Outcome.RETRY, 30.0)}
    failed = SNAP.classify(request, result(503, {"error": "down"}))
    assert {o.outcome for o in failed} == {Outcome.RETRY}
    network = SNAP.classify(request, HttpResult(status_code=None, error="timeout: read"))
    assert {o.outcome for o in network} == {Outcome.RETRY}


async def test_classify_permanent_4xx() -> None:
    body = {"status": "INVALID", "reason": "Invalid or missing access_token"}
    outcomes = SNAP.classify(two_event_request(), result(401, body))
    assert {o.outcome for o in outcomes} == {Outcome.PERMANENT}


async def test_classify_400_names_the_invalid_event() -> None:
    body = {
        "status": "INVALID",
        "reason": "Unhashed PII",
        "event": 1,
        "errors": {"codes": ["UNHASHED_PII"], "error_msgs": ["Unhashed PII in user_data.em"]},
    }
    first, second = SNAP.classify(two_event_request(), result(400, body))
    assert first.outcome is Outcome.RESEND  # sent again at once, not charged
    assert second.outcome is Outcome.PERMANENT and "UNHASHED_PII" in (second.error or "")


async def test_classify_invalid_in_200_body() -> None:
    # which event was invalid is not said: the batch is split to find it
    body = {"status": "INVALID", "reason": "Insufficient PII"}
    outcomes = SNAP.classify(two_event_request(), result(200, body))
    assert {o.outcome for o in outcomes} == {Outcome.SPLIT}
    assert "Insufficient PII" in (outcomes[0].error or "")


async def test_classify_validate_event_logs_partial_failure() -> None:
    body = {
        "status": "INVALID",
        "test_event": True,
        "event_logs": [
            {"event": 0, "status": "VALID", "warnings": []},
            {"event": 1, "status": "INVALID", "errors": {"error_msgs": ["bad time"]}},
        ],
    }
    first, second = SNAP.classify(two_event_request(), result(400, body))
    assert first.outcome is Outcome.DELIVERED
    assert second.outcome is Outcome.PERMANENT and "bad time" in (second.error or "")


def sandbox_client() -> httpx.AsyncClient:
    app = FastAPI()
    app.include_router(router)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox")


async def send(client: httpx.AsyncClient, request: PreparedRequest) -> HttpResult:
    response = await client.request(
        request.method, request.url, content=request.body_bytes(), headers=request.headers
    )
    return HttpResult(response.status_code, dict(response.headers), response.text)


SANDBOX_TARGET = DestinationTarget(
    credentials={**TARGET.credentials, "base_url": "http://sandbox/snapchat"}
)


async def test_sandbox_round_trip_delivers() -> None:
    SANDBOX.reset()
    request = SNAP.prepare(
        [make_event(1), make_event(2, "rx_issued", "CUSTOM_EVENT_1")], SANDBOX_TARGET
    ).requests[0]
    async with sandbox_client() as client:
        http_result = await send(client, request)
    assert http_result.status_code == 200
    assert {o.outcome for o in SNAP.classify(request, http_result)} == {Outcome.DELIVERED}
    (recorded,) = SANDBOX.recorded("snapchat")
    assert recorded.path == f"/snapchat/v3/{PIXEL}/events"
    assert recorded.query == {"access_token": TOKEN}


async def test_sandbox_validate_endpoint_round_trip() -> None:
    SANDBOX.reset()
    target = DestinationTarget(credentials=SANDBOX_TARGET.credentials, settings={"validate": "1"})
    request = SNAP.prepare([make_event()], target).requests[0]
    async with sandbox_client() as client:
        http_result = await send(client, request)
    assert http_result.json()["test_event"] is True
    assert [o.outcome for o in SNAP.classify(request, http_result)] == [Outcome.DELIVERED]


async def test_sandbox_rejects_missing_field_and_bad_token() -> None:
    SANDBOX.reset()
    request = SNAP.prepare([make_event(1), make_event(2)], SANDBOX_TARGET).requests[0]
    del request.json_body["data"][1]["event_name"]
    async with sandbox_client() as client:
        http_result = await send(client, request)
        assert http_result.status_code == 400
        body = http_result.json()
        assert body["status"] == "INVALID" and body["event"] == 1
        assert "event_name" in body["errors"]["error_msgs"][0]
        first, second = SNAP.classify(request, http_result)
        assert (first.outcome, second.outcome) == (Outcome.RESEND, Outcome.PERMANENT)

        request.url = request.url.replace(TOKEN, "invalid-token")
        unauthorized = await send(client, request)
    assert unauthorized.status_code == 401
    assert {o.outcome for o in SNAP.classify(request, unauthorized)} == {Outcome.PERMANENT}


async def test_sandbox_rejects_oversized_batch() -> None:
    SANDBOX.reset()
    request = SNAP.prepare([make_event()], SANDBOX_TARGET).requests[0]
    request.json_body["data"] = request.json_body["data"] * 2001
    async with sandbox_client() as client:
        http_result = await send(client, request)
    assert http_result.status_code == 400
    assert http_result.json()["status"] == "INVALID"
