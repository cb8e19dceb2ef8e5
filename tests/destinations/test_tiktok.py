"""TikTok Events API destination: payload building, classification, sandbox round trip."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from omnirelay.destinations.base import (
    DestinationTarget,
    HttpResult,
    OutboundEvent,
    Outcome,
    PreparedRequest,
)
from omnirelay.destinations.tiktok import TikTokEventsApi
from omnirelay.sandbox.core import SANDBOX, FaultConfig
from omnirelay.sandbox.tiktok import router

TOKEN = "tt-secret-token"
PIXEL = "CABCDEFGHIJ1234567"
TARGET = DestinationTarget(credentials={"access_token": TOKEN, "pixel_code": PIXEL})


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def make_event(
    delivery_id: int = 1,
    *,
    event_type: str = "purchase_completed",
    name: str = "Purchase",
    age: timedelta = timedelta(minutes=5),
    **payload: Any,
) -> OutboundEvent:
    base: dict[str, Any] = {
        "order_id": "2025020100003333",
        "order_revenue": 80.79,
        "currency": "usd",
        "email": " Jane.Doe@Example.com ",
        "phone": "+1 (650) 555-1234",
        "external_id": "Cust-42",
        "client_ip_address": "203.0.113.9",
        "user_agent": "Mozilla/5.0",
        "ttclid": "E.C.P.abc",
        "_ttp": "2F7h37YkS1j57",
        "page_url": "https://shop.example.com/checkout",
        "country": "US",
    }
    base.update(payload)
    return OutboundEvent(
        delivery_id=delivery_id,
        event_id="2025020100003333",
        event_type=event_type,
        destination_event_name=name,
        event_time=datetime.now(UTC) - age,
        storefront_code="bosley",
        payload={k: v for k, v in base.items() if v is not None},
    )


def only_request(events: list[OutboundEvent], target: DestinationTarget = TARGET) -> Any:
    prepared = TikTokEventsApi().prepare(events, target)
    assert prepared.rejected == []
    assert len(prepared.requests) == 1
    return prepared.requests[0]


def ok_body(code: int = 0, message: str = "OK") -> str:
    return json.dumps({"code": code, "message": message, "request_id": "2026X", "data": {}})


def request_for(*delivery_ids: int) -> PreparedRequest:
    return PreparedRequest(method="POST", url="u", delivery_ids=list(delivery_ids))


# --- prepare ---------------------------------------------------------------------------


async def test_request_shape_and_hashing() -> None:
    event = make_event()
    request = only_request([event])
    assert request.url == "https://business-api.tiktok.com/open_api/v1.3/event/track/"
    assert request.headers["Access-Token"] == TOKEN
    assert request.secrets == [TOKEN]
    assert TOKEN not in request.body_bytes().decode()
    body = request.json_body
    assert body["event_source"] == "web"
    assert body["event_source_id"] == PIXEL
    assert "test_event_code" not in body
    item = body["data"][0]
    assert item["event"] == "Purchase"
    assert item["event_time"] == int(event.event_time.timestamp())
    assert item["event_id"] == "2025020100003333"  # dedup is per (pixel, event_id, event)
    assert item["user"] == {
        "email": sha("jane.doe@example.com"),
        "phone": sha("+16505551234"),  # E.164 keeps the "+"
        "external_id": sha("Cust-42"),  # trimmed, not lowercased
        "ip": "203.0.113.9",
        "user_agent": "Mozilla/5.0",
        "ttclid": "E.C.P.abc",
        "ttp": "2F7h37YkS1j57",
    }
    assert item["properties"] == {
        "currency": "USD",
        "value": 80.79,
        "order_id": "2025020100003333",
    }
    assert item["page"] == {"url": "https://shop.example.com/checkout"}
    assert request.warnings == {}


async def test_value_fallback_default_currency_and_contents() -> None:
    items = [{"item_id": "sku-1", "item_name": "Kit", "price": 40.5, "quantity": 2}]
    event = make_event(order_revenue=None, value="81", currency=None, items=items)
    props = only_request([event]).json_body["data"][0]["properties"]
    assert props["value"] == 81.0
    assert props["currency"] == "USD"
    assert props["content_type"] == "product"
    assert props["contents"] == [
        {"content_id": "sku-1", "content_name": "Kit", "price": 40.5, "quantity": 2}
    ]


async def test_default_event_names() -> None:
    names = TikTokEventsApi.default_event_names
    assert names["purchase_completed"] == "Purchase"
    assert names["consult_started"] == "Contact"
    assert names["rx_issued"] == "rx_issued"


async def test_already_hashed_passthrough_and_bad_value_dropped() -> None:
    hashed_email = sha("someone@example.com").upper()
    event = make_event(email=hashed_email, phone="12")
    request = only_request([event])
    user = request.json_body["data"][0]["user"]
    assert user["email"] == hashed_email.lower()
    assert "phone" not in user
    assert len(request.warnings[1]) == 1
    assert request.warnings[1][0].startswith("phone dropped")
    assert "12" not in str(user.values())


async def test_phone_uses_payload_country_as_region() -> None:
    event = make_event(phone="020 7946 0958", country="GB")
    user = only_request([event]).json_body["data"][0]["user"]
    assert user["phone"] == sha("+442079460958")


async def test_old_event_rejected_permanently() -> None:
    fresh = make_event(1)
    stale = make_event(2, age=timedelta(days=29))
    prepared = TikTokEventsApi().prepare([fresh, stale], TARGET)
    assert [r.delivery_ids for r in prepared.requests] == [[1]]
    assert len(prepared.rejected) == 1
    rejected = prepared.rejected[0]
    assert rejected.delivery_id == 2
    assert rejected.outcome is Outcome.PERMANENT
    assert rejected.error is not None and "28-day" in rejected.error


async def test_batches_split_at_limit() -> None:
    events = [make_event(i) for i in range(1, 1003)]
    prepared = TikTokEventsApi().prepare(events, TARGET)
    assert [len(r.delivery_ids) for r in prepared.requests] == [1000, 2]
    assert [len(r.json_body["data"]) for r in prepared.requests] == [1000, 2]


async def test_base_url_override_and_test_event_code() -> None:
    target = DestinationTarget(
        credentials={"access_token": TOKEN, "pixel_code": PIXEL},
        settings={"base_url": "http://127.0.0.1:8090/tiktok/", "test_event_code": "TEST123"},
    )
    request = only_request([make_event()], target)
    assert request.url == "http://127.0.0.1:8090/tiktok/open_api/v1.3/event/track/"
    assert request.json_body["test_event_code"] == "TEST123"


async def test_missing_credentials_reject_everything() -> None:
    target = DestinationTarget(credentials={"access_token": TOKEN})
    prepared = TikTokEventsApi().prepare([make_event(1), make_event(2)], target)
    assert prepared.requests == []
    assert {r.delivery_id for r in prepared.rejected} == {1, 2}
    assert all(r.outcome is Outcome.PERMANENT for r in prepared.rejected)
    assert all("pixel_code" in (r.error or "") for r in prepared.rejected)


# --- classify --------------------------------------------------------------------------


def classify(result: HttpResult, *ids: int) -> dict[int, Any]:
    outcomes = TikTokEventsApi().classify(request_for(*(ids or (1,))), result)
    return {o.delivery_id: o for o in outcomes}


async def test_success() -> None:
    outcomes = classify(HttpResult(200, body=ok_body()), 1, 2)
    assert {o.outcome for o in outcomes.values()} == {Outcome.DELIVERED}


async def test_http_429_with_retry_after() -> None:
    outcome = classify(HttpResult(429, headers={"Retry-After": "30"}, body="slow down"))[1]
    assert outcome.outcome is Outcome.RETRY
    assert outcome.retry_after == 30.0


async def test_http_5xx_and_transport_error_retry() -> None:
    assert classify(HttpResult(503, body="down"))[1].outcome is Outcome.RETRY
    assert classify(HttpResult(None, error="timeout: read"))[1].outcome is Outcome.RETRY


async def test_http_4xx_is_permanent() -> None:
    assert classify(HttpResult(403, body="forbidden"))[1].outcome is Outcome.PERMANENT


async def test_error_codes_in_200_body() -> None:
    cases = {
        40001: Outcome.PERMANENT,
        40002: Outcome.PERMANENT,
        40105: Outcome.PERMANENT,
        40100: Outcome.RETRY,
        40700: Outcome.RETRY,
        50000: Outcome.RETRY,
        51021: Outcome.RETRY,
    }
    for code, expected in cases.items():
        outcome = classify(HttpResult(200, body=ok_body(code, "boom")))[1]
        assert outcome.outcome is expected, code
        assert outcome.error is not None and str(code) in outcome.error


async def test_rate_limit_code_uses_retry_after_header() -> None:
    result = HttpResult(200, headers={"retry-after": "12"}, body=ok_body(40100, "Too many"))
    assert classify(result)[1].retry_after == 12.0


async def test_unparseable_200_is_retried() -> None:
    assert classify(HttpResult(200, body="<html>"))[1].outcome is Outcome.RETRY


async def test_named_item_fails_alone() -> None:
    body = ok_body(40002, "data[1].event_time: Missing data for required field.")
    outcomes = classify(HttpResult(200, body=body), 7, 8, 9)
    assert outcomes[8].outcome is Outcome.PERMANENT
    assert outcomes[7].outcome is Outcome.RETRY
    assert outcomes[9].outcome is Outcome.RETRY


async def test_unnamed_item_error_splits_the_batch() -> None:
    body = ok_body(40002, "Invalid value for event_id: not a valid string.")
    outcomes = classify(HttpResult(200, body=body), 7, 8)
    assert {o.outcome for o in outcomes.values()} == {Outcome.SPLIT}
    [alone] = classify(HttpResult(200, body=body), 7).values()
    assert alone.outcome == Outcome.PERMANENT


# --- sandbox round trip ----------------------------------------------------------------


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
    credentials={"access_token": TOKEN, "pixel_code": PIXEL},
    settings={"base_url": "http://sandbox/tiktok"},
)


async def test_sandbox_round_trip_delivered() -> None:
    SANDBOX.reset()
    request = only_request([make_event(1), make_event(2, event_type="rx_issued")], SANDBOX_TARGET)
    async with sandbox_client() as client:
        result = await send(client, request)
    assert result.status_code == 200
    outcomes = TikTokEventsApi().classify(request, result)
    assert [o.outcome for o in outcomes] == [Outcome.DELIVERED, Outcome.DELIVERED]
    recorded = SANDBOX.recorded("tiktok")
    assert len(recorded) == 1
    assert recorded[0].headers["access-token"] == TOKEN
    assert recorded[0].response_body["code"] == 0


async def test_sandbox_rejects_missing_event_time_like_tiktok() -> None:
    SANDBOX.reset()
    request = only_request([make_event(1), make_event(2)], SANDBOX_TARGET)
    del request.json_body["data"][1]["event_time"]
    async with sandbox_client() as client:
        result = await send(client, request)
    body: Mapping[str, Any] = result.json()
    assert result.status_code == 200
    assert body["code"] == 40002
    assert body["message"].startswith("data[1].event_time")
    assert body["request_id"]
    outcomes = {o.delivery_id: o.outcome for o in TikTokEventsApi().classify(request, result)}
    assert outcomes == {1: Outcome.RETRY, 2: Outcome.PERMANENT}


async def test_sandbox_requires_token_and_pixel() -> None:
    SANDBOX.reset()
    request = only_request([make_event(1)], SANDBOX_TARGET)
    async with sandbox_client() as client:
        no_token = await client.post(request.url, json=request.json_body)
        body = dict(request.json_body, event_source_id="")
        no_pixel = await client.post(request.url, json=body, headers=request.headers)
    assert no_token.status_code == 200 and no_token.json()["code"] == 40001
    assert no_pixel.status_code == 200 and no_pixel.json()["code"] == 40002


async def test_sandbox_invalid_fault_answers_200_with_error_code() -> None:
    SANDBOX.reset()
    SANDBOX.faults["tiktok"] = FaultConfig(kind="invalid")
    request = only_request([make_event(1)], SANDBOX_TARGET)
    async with sandbox_client() as client:
        result = await send(client, request)
    SANDBOX.reset()
    assert result.status_code == 200
    assert result.json()["code"] != 0
    assert TikTokEventsApi().classify(request, result)[0].outcome is Outcome.PERMANENT
