"""Pinterest API for Conversions: payload building, classification, sandbox round trip."""

from __future__ import annotations

import hashlib
import json
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
from omnirelay.destinations.pinterest import PinterestConversionsApi
from omnirelay.sandbox import pinterest as pinterest_sandbox
from omnirelay.sandbox.core import SANDBOX, FaultConfig

TOKEN = "pina_secret_token"
AD_ACCOUNT = "549755885175"
DESTINATION = PinterestConversionsApi()


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def make_event(
    delivery_id: int = 1,
    event_type: str = "purchase_completed",
    *,
    destination_event_name: str | None = None,
    event_time: datetime | None = None,
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
        "epik": "dj0yJnU9abc",
    }
    payload.update(payload_overrides)
    mapped = destination_event_name or DESTINATION.default_event_names.get(event_type, event_type)
    return OutboundEvent(
        delivery_id=delivery_id,
        event_id="2025020100003333",
        event_type=event_type,
        destination_event_name=mapped,
        event_time=event_time or datetime.now(UTC) - timedelta(minutes=5),
        storefront_code="bosley",
        payload={k: v for k, v in payload.items() if v is not None},
    )


def make_target(**settings: Any) -> DestinationTarget:
    return DestinationTarget(
        credentials={"access_token": TOKEN, "ad_account_id": AD_ACCOUNT}, settings=settings
    )


def only_request(events: list[OutboundEvent], target: DestinationTarget) -> PreparedRequest:
    prepared = DESTINATION.prepare(events, target)
    assert prepared.rejected == []
    assert len(prepared.requests) == 1
    return prepared.requests[0]


def result(status: int, body: Any = None, headers: dict[str, str] | None = None) -> HttpResult:
    text = body if isinstance(body, str) else json.dumps(body) if body is not None else ""
    return HttpResult(status_code=status, headers=headers or {}, body=text)


# --- payload building ---


async def test_purchase_payload_fields_and_hashing() -> None:
    request = only_request([make_event()], make_target())
    assert request.method == "POST"
    assert request.url == f"https://api.pinterest.com/v5/ad_accounts/{AD_ACCOUNT}/events"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.secrets == [TOKEN]
    assert request.delivery_ids == [1]
    (event,) = request.json_body["data"]
    assert event["event_name"] == "checkout"
    assert event["action_source"] == "web"
    assert isinstance(event["event_time"], int)
    assert event["event_id"] == "2025020100003333"  # the purchase keeps the bare order id
    assert event["event_source_url"] == "https://shop.example.com/checkout"
    assert event["custom_data"] == {
        "value": "80.79",  # a string, as Pinterest requires
        "currency": "USD",
        "order_id": "2025020100003333",
    }
    user = event["user_data"]
    assert user["em"] == [sha("jane.doe@example.com")]
    assert user["ph"] == [sha("16505551234")]
    assert user["fn"] == [sha("jane")]
    assert user["ln"] == [sha("doe")]
    assert user["ct"] == [sha("paloalto")]
    assert user["st"] == [sha("ca")]
    assert user["zp"] == [sha("94301")]
    assert user["country"] == [sha("us")]
    assert user["external_id"] == [sha("cust-42")]
    assert user["client_ip_address"] == "203.0.113.9"
    assert user["client_user_agent"] == "Mozilla/5.0"
    assert user["click_id"] == "dj0yJnU9abc"  # epik is sent as is
    assert request.warnings == {}


async def test_event_mapping_and_dedup_ids() -> None:
    events = [
        make_event(1, "consult_started"),
        make_event(2, "rx_issued"),
        make_event(3, "refill_reminder"),  # unmapped: goes out as a custom event
    ]
    request = only_request(events, make_target())
    names = [e["event_name"] for e in request.json_body["data"]]
    ids = [e["event_id"] for e in request.json_body["data"]]
    assert names == ["lead", "custom", "custom"]
    assert ids == [
        "2025020100003333:consult_started",
        "2025020100003333:rx_issued",
        "2025020100003333:refill_reminder",
    ]
    # order_id only on the purchase, so Pinterest cannot merge the lead into the checkout
    assert all("order_id" not in e.get("custom_data", {}) for e in request.json_body["data"])


async def test_advertiser_defined_event_sent_as_is() -> None:
    target = make_target(advertiser_defined_events=["refill_reminder"])
    request = only_request([make_event(1, "refill_reminder")], target)
    assert request.json_body["data"][0]["event_name"] == "refill_reminder"


async def test_items_become_contents() -> None:
    items = [{"item_id": "sku-1", "price": 19.9, "quantity": 2}, {"id": "sku-2", "price": "5"}]
    request = only_request([make_event(items=items)], make_target())
    custom = request.json_body["data"][0]["custom_data"]
    assert custom["content_ids"] == ["sku-1", "sku-2"]
    assert custom["contents"] == [
        {"id": "sku-1", "item_price": "19.9", "quantity": 2},
        {"id": "sku-2", "item_price": "5"},
    ]
    assert custom["num_items"] == 3


async def test_already_hashed_values_pass_through() -> None:
    hashed_email = sha("someone@example.com").upper()
    hashed_phone = sha("15551234567")
    request = only_request([make_event(email=hashed_email, phone=hashed_phone)], make_target())
    user = request.json_body["data"][0]["user_data"]
    assert user["em"] == [hashed_email.lower()]
    assert user["ph"] == [hashed_phone]


async def test_bad_value_is_dropped_with_a_warning() -> None:
    request = only_request([make_event(state="Atlantis", phone="12")], make_target())
    user = request.json_body["data"][0]["user_data"]
    assert "st" not in user and "ph" not in user
    warnings = request.warnings[1]
    assert any(w.startswith("user_data.st dropped") for w in warnings)
    assert any(w.startswith("user_data.ph dropped") for w in warnings)
    assert "Atlantis" not in json.dumps(request.json_body)


async def test_event_older_than_seven_days_is_rejected() -> None:
    old = make_event(1, event_time=datetime.now(UTC) - timedelta(days=8))
    fresh = make_event(2)
    prepared = DESTINATION.prepare([old, fresh], make_target())
    assert [r.delivery_id for r in prepared.rejected] == [1]
    assert prepared.rejected[0].outcome is Outcome.PERMANENT
    assert "7-day window" in (prepared.rejected[0].error or "")
    assert prepared.requests[0].delivery_ids == [2]


async def test_event_without_usable_identity_is_rejected() -> None:
    event = make_event(email=None, user_agent=None)  # ip alone is not enough
    prepared = DESTINATION.prepare([event], make_target())
    assert prepared.requests == []
    assert prepared.rejected[0].outcome is Outcome.PERMANENT
    assert "client_user_agent" in (prepared.rejected[0].error or "")


async def test_missing_credentials_reject_every_event() -> None:
    events = [make_event(1), make_event(2)]
    no_token = DestinationTarget(credentials={"ad_account_id": AD_ACCOUNT})
    prepared = DESTINATION.prepare(events, no_token)
    assert prepared.requests == []
    assert [r.outcome for r in prepared.rejected] == [Outcome.PERMANENT] * 2
    assert "access token" in (prepared.rejected[0].error or "")
    bad_account = DestinationTarget(credentials={"access_token": TOKEN, "ad_account_id": "act_1"})
    assert "ad_account_id" in (DESTINATION.prepare(events, bad_account).rejected[0].error or "")


async def test_batches_split_at_max_batch_size() -> None:
    events = [make_event(i) for i in range(2001)]
    prepared = DESTINATION.prepare(events, make_target())
    assert [len(r.delivery_ids) for r in prepared.requests] == [1000, 1000, 1]
    assert all(len(r.json_body["data"]) == len(r.delivery_ids) for r in prepared.requests)


async def test_base_url_override_and_test_mode() -> None:
    target = make_target(base_url="http://127.0.0.1:8090/pinterest/", test_event_code="TEST1")
    request = only_request([make_event()], target)
    assert request.url == (
        f"http://127.0.0.1:8090/pinterest/v5/ad_accounts/{AD_ACCOUNT}/events?test=true"
    )
    assert "?test=true" not in only_request([make_event()], make_target()).url


# --- classification ---

REQUEST = PreparedRequest(method="POST", url="https://x", delivery_ids=[11, 12, 13])


async def test_classify_all_processed() -> None:
    body = {
        "num_events_received": 3,
        "num_events_processed": 3,
        "events": [{"status": "processed", "error_message": "", "warning_message": ""}] * 3,
    }
    outcomes = DESTINATION.classify(REQUEST, result(200, body))
    assert [o.outcome for o in outcomes] == [Outcome.DELIVERED] * 3


async def test_classify_partial_failure_per_event() -> None:
    body = {
        "num_events_received": 3,
        "num_events_processed": 2,
        "events": [
            {"status": "processed", "error_message": "", "warning_message": ""},
            {"status": "failed", "error_message": "'em' field is not hashed correctly"},
            {"status": "processed", "warning_message": "ph is not standard"},
        ],
    }
    outcomes = DESTINATION.classify(REQUEST, result(200, body))
    assert [(o.delivery_id, o.outcome) for o in outcomes] == [
        (11, Outcome.DELIVERED),
        (12, Outcome.PERMANENT),
        (13, Outcome.DELIVERED),
    ]
    assert outcomes[1].error == "'em' field is not hashed correctly"


async def test_classify_422_with_per_event_details() -> None:
    events = [{"status": "failed", "error_message": "bad"}, {"status": "processed"}]
    body = {"code": 4179, "message": "Not all events processed", "details": {"events": events}}
    outcomes = DESTINATION.classify(REQUEST, result(422, body))
    assert [o.outcome for o in outcomes] == [Outcome.PERMANENT, Outcome.DELIVERED, Outcome.RETRY]


async def test_classify_rate_limit_with_retry_after() -> None:
    body = {"code": 8, "message": "This request exceeded a rate limit."}
    outcomes = DESTINATION.classify(REQUEST, result(429, body, {"Retry-After": "30"}))
    assert {o.outcome for o in outcomes} == {Outcome.RETRY}
    assert outcomes[0].retry_after == 30.0


async def test_classify_server_errors_and_transport_errors_retry() -> None:
    ramped_down = {"code": 4197, "message": "The endpoint has been ramped down"}
    assert {o.outcome for o in DESTINATION.classify(REQUEST, result(503, ramped_down))} == {
        Outcome.RETRY
    }
    assert {o.outcome for o in DESTINATION.classify(REQUEST, result(500, "oops"))} == {
        Outcome.RETRY
    }
    timeout = HttpResult(status_code=None, error="timeout: read")
    assert {o.outcome for o in DESTINATION.classify(REQUEST, timeout)} == {Outcome.RETRY}


async def test_classify_permanent_client_errors() -> None:
    for status, body in [
        (400, {"code": 4196, "message": "Invalid request: 'event_id' is a required property"}),
        (401, {"code": 2, "message": "Authentication failed."}),
        (403, {"code": 29, "message": "You are not permitted to access that resource."}),
    ]:
        outcomes = DESTINATION.classify(REQUEST, result(status, body))
        assert {o.outcome for o in outcomes} == {Outcome.PERMANENT}
        assert str(status) in (outcomes[0].error or "")


async def test_classify_error_inside_a_200_body() -> None:
    outcomes = DESTINATION.classify(REQUEST, result(200, {"code": 4196, "message": "invalid"}))
    assert {o.outcome for o in outcomes} == {Outcome.PERMANENT}
    assert "4196" in (outcomes[0].error or "")


# --- round trip against the sandbox ---


def sandbox_client() -> httpx.AsyncClient:
    app = FastAPI()
    app.include_router(pinterest_sandbox.router)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox")


async def send(client: httpx.AsyncClient, request: PreparedRequest) -> HttpResult:
    response = await client.request(
        request.method, request.url, content=request.body_bytes(), headers=request.headers
    )
    return HttpResult(response.status_code, dict(response.headers), response.text)


def sandbox_target(**settings: Any) -> DestinationTarget:
    return make_target(base_url="http://sandbox/pinterest", **settings)


async def test_sandbox_round_trip_delivers() -> None:
    SANDBOX.reset()
    events = [make_event(1), make_event(2, "consult_started"), make_event(3, "rx_issued")]
    request = only_request(events, sandbox_target(test_event_code="1"))
    async with sandbox_client() as client:
        http_result = await send(client, request)
    assert http_result.status_code == 200
    assert http_result.json()["num_events_processed"] == 3
    outcomes = DESTINATION.classify(request, http_result)
    assert [o.outcome for o in outcomes] == [Outcome.DELIVERED] * 3
    (recorded,) = SANDBOX.recorded("pinterest")
    assert recorded.path == f"/pinterest/v5/ad_accounts/{AD_ACCOUNT}/events"
    assert recorded.query == {"test": "true"}


async def test_sandbox_rejects_missing_required_field_for_the_whole_request() -> None:
    SANDBOX.reset()
    request = only_request([make_event(1), make_event(2)], sandbox_target())
    del request.json_body["data"][1]["event_id"]
    async with sandbox_client() as client:
        http_result = await send(client, request)
    assert http_result.status_code == 400
    body = http_result.json()
    assert body["code"] == 4196
    assert "'event_id' is a required property" in body["message"]
    outcomes = DESTINATION.classify(request, http_result)
    assert {o.outcome for o in outcomes} == {Outcome.PERMANENT}


async def test_sandbox_fails_one_invalid_event_and_processes_the_rest() -> None:
    SANDBOX.reset()
    request = only_request([make_event(1), make_event(2), make_event(3)], sandbox_target())
    stale = int((datetime.now(UTC) - timedelta(days=9)).timestamp())
    request.json_body["data"][1]["event_time"] = stale
    async with sandbox_client() as client:
        http_result = await send(client, request)
    assert http_result.status_code == 200
    assert http_result.json()["events"][1]["status"] == "failed"
    outcomes = DESTINATION.classify(request, http_result)
    assert [o.outcome for o in outcomes] == [
        Outcome.DELIVERED,
        Outcome.PERMANENT,
        Outcome.DELIVERED,
    ]
    assert "7 days" in (outcomes[1].error or "")


async def test_sandbox_checks_token_and_value_type() -> None:
    SANDBOX.reset()
    request = only_request([make_event()], sandbox_target())
    async with sandbox_client() as client:
        request.headers.pop("Authorization")
        unauthorized = await send(client, request)
        request.headers["Authorization"] = f"Bearer {TOKEN}"
        request.json_body["data"][0]["custom_data"]["value"] = 80.79  # must be a string
        wrong_type = await send(client, request)
    assert unauthorized.status_code == 401
    assert unauthorized.json() == {"code": 2, "message": "Authentication failed."}
    assert wrong_type.status_code == 400
    assert "not of type 'string'" in wrong_type.json()["message"]


async def test_sandbox_fault_injection_is_retried() -> None:
    SANDBOX.reset()
    SANDBOX.faults["pinterest"] = FaultConfig(kind="429", retry_after=7)
    request = only_request([make_event()], sandbox_target())
    async with sandbox_client() as client:
        http_result = await send(client, request)
    SANDBOX.reset()
    outcomes = DESTINATION.classify(request, http_result)
    assert outcomes[0].outcome is Outcome.RETRY
    assert outcomes[0].retry_after == 7.0
