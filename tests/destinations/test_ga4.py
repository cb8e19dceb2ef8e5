"""GA4 Measurement Protocol destination: payload building, classification, sandbox round trip."""

from __future__ import annotations

import copy
import hashlib
import re
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
from omnirelay.destinations.ga4 import DEFAULT_EVENT_NAMES, Ga4MeasurementProtocol
from omnirelay.sandbox.core import SANDBOX, FaultConfig
from omnirelay.sandbox.ga4 import router

GA4 = Ga4MeasurementProtocol()
TARGET = DestinationTarget(
    credentials={"api_secret": "s3cr3t-api"}, settings={"measurement_id": "G-TEST123"}
)
PAYLOAD: dict[str, Any] = {
    "t-value": "bosleyaffiliate_0123",
    "storefront_id": "bosley",
    "event_name": "purchase_completed",
    "event_time": "2026-01-15T10:25:00Z",
    "order_id": "2025020100003333",
    "order_revenue": 80.79,
    "currency": "USD",
    "session_id": "sess_456",
    "utm_source": "google",
    "utm_medium": "organic",
    "utm_campaign": "bosley_q1",
    "email": "Jane.Doe@Example.com",
    "phone": "+1 (650) 555-1234",
    "external_id": "cust-42",
    "first_name": "Jane",
    "last_name": "Doe",
    "city": "Palo Alto",
    "state": "CA",
    "zip": "94301",
    "country": "US",
}


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def make_event(
    delivery_id: int = 1,
    event_type: str = "purchase_completed",
    *,
    name: str | None = None,
    event_id: str = "2025020100003333",
    age: timedelta = timedelta(hours=1),
    payload: Mapping[str, Any] | None = None,
) -> OutboundEvent:
    return OutboundEvent(
        delivery_id=delivery_id,
        event_id=event_id,
        event_type=event_type,
        destination_event_name=name or DEFAULT_EVENT_NAMES.get(event_type, event_type),
        event_time=datetime.now(UTC) - age,
        storefront_code="bosley",
        payload=PAYLOAD if payload is None else payload,
    )


def only_request(
    events: list[OutboundEvent], target: DestinationTarget = TARGET
) -> PreparedRequest:
    prepared = GA4.prepare(events, target)
    assert prepared.rejected == []
    assert len(prepared.requests) == 1
    return prepared.requests[0]


def params_of(request: PreparedRequest) -> dict[str, Any]:
    return request.json_body["events"][0]["params"]


# --- payload building -------------------------------------------------------------------


async def test_purchase_request_url_body_and_secret() -> None:
    event = make_event()
    request = only_request([event])
    assert request.method == "POST"
    assert request.url == (
        "https://www.google-analytics.com/mp/collect?measurement_id=G-TEST123&api_secret=s3cr3t-api"
    )
    assert request.secrets == ["s3cr3t-api"]
    assert request.delivery_ids == [1]
    body = request.json_body
    assert body["client_id"] == "sess_456"
    assert body["user_id"] == "cust-42"
    assert body["timestamp_micros"] == int(event.event_time.timestamp() * 1_000_000)
    assert body["events"][0]["name"] == "purchase"
    assert params_of(request) == {
        "transaction_id": "2025020100003333",
        "value": 80.79,
        "currency": "USD",
        "storefront_id": "bosley",
        "utm_source": "google",
        "utm_medium": "organic",
        "utm_campaign": "bosley_q1",
    }


async def test_default_event_names_and_custom_event() -> None:
    assert GA4.default_event_names["purchase_completed"] == "purchase"
    assert GA4.default_event_names["consult_started"] == "generate_lead"
    assert GA4.default_event_names["rx_issued"] == "rx_issued"
    lead = only_request([make_event(event_type="consult_started")])
    assert lead.json_body["events"][0]["name"] == "generate_lead"
    # the same order id is the transaction_id on every event: GA4 dedups only purchases on it
    assert params_of(lead)["transaction_id"] == "2025020100003333"
    custom = only_request([make_event(event_type="refill_requested")])
    assert custom.json_body["events"][0]["name"] == "refill_requested"


async def test_value_falls_back_to_value_and_currency_defaults_to_usd() -> None:
    payload = {"value": "12.5", "session_id": "s1", "storefront_id": "bosley"}
    params = params_of(only_request([make_event(payload=payload)]))
    assert params["value"] == 12.5
    assert params["currency"] == "USD"
    no_value = params_of(only_request([make_event(payload={"session_id": "s1"})]))
    assert "value" not in no_value and "currency" not in no_value


async def test_user_data_normalization_and_hashing() -> None:
    body = only_request([make_event()]).json_body
    user_data = body["user_data"]
    # dots are kept outside gmail.com / googlemail.com
    assert user_data["sha256_email_address"] == [sha("jane.doe@example.com")]
    assert user_data["sha256_phone_number"] == [sha("+16505551234")]
    assert user_data["address"] == [
        {
            "sha256_first_name": sha("jane"),
            "sha256_last_name": sha("doe"),
            "city": "palo alto",
            "region": "ca",
            "postal_code": "94301",
            "country": "US",
        }
    ]


async def test_gmail_dots_removed_plus_tag_kept() -> None:
    payload = {**PAYLOAD, "email": " John.Smith+promo@GoogleMail.com "}
    user_data = only_request([make_event(payload=payload)]).json_body["user_data"]
    assert user_data["sha256_email_address"] == [sha("johnsmith+promo@googlemail.com")]


async def test_already_hashed_values_pass_through() -> None:
    hashed_email = sha("someone@example.com")
    payload = {**PAYLOAD, "email": hashed_email.upper(), "first_name": sha("jane")}
    user_data = only_request([make_event(payload=payload)]).json_body["user_data"]
    assert user_data["sha256_email_address"] == [hashed_email]
    assert user_data["address"][0]["sha256_first_name"] == sha("jane")


async def test_bad_values_dropped_with_warning_never_sent_raw() -> None:
    payload = {**PAYLOAD, "email": "not-an-email", "country": "USA", "phone": "12"}
    request = only_request([make_event(payload=payload)])
    user_data = request.json_body["user_data"]
    assert "sha256_email_address" not in user_data
    assert "sha256_phone_number" not in user_data
    assert "country" not in user_data["address"][0]
    warnings = request.warnings[1]
    assert any(w.startswith("user_data.email dropped") for w in warnings)
    assert any(w.startswith("user_data.phone dropped") for w in warnings)
    assert any(w.startswith("user_data.address.country dropped") for w in warnings)
    assert "not-an-email" not in request.body_bytes().decode()


async def test_clear_address_fields_refuse_hashes_and_phone_uses_country() -> None:
    payload = {**PAYLOAD, "city": sha("palo alto"), "country": "GB", "phone": "020 7946 0958"}
    request = only_request([make_event(payload=payload)])
    user_data = request.json_body["user_data"]
    assert "city" not in user_data["address"][0]
    assert any(w.startswith("user_data.address.city dropped") for w in request.warnings[1])
    assert user_data["sha256_phone_number"] == [sha("+442079460958")]


async def test_items_mapped_to_ga4_items() -> None:
    items = [{"sku": "RX-1", "name": "Refill", "price": "10.50", "quantity": "2"}, {"x": 1}]
    params = params_of(only_request([make_event(payload={**PAYLOAD, "items": items})]))
    assert params["items"] == [
        {"item_id": "RX-1", "item_name": "Refill", "price": 10.5, "quantity": 2}
    ]


async def test_events_older_than_72_hours_rejected_permanent() -> None:
    stale = make_event(1, age=timedelta(hours=73))
    fresh = make_event(2, age=timedelta(hours=71))
    prepared = GA4.prepare([stale, fresh], TARGET)
    assert [r.delivery_ids for r in prepared.requests] == [[2]]
    assert len(prepared.rejected) == 1
    rejected = prepared.rejected[0]
    assert rejected.delivery_id == 1 and rejected.outcome is Outcome.PERMANENT
    assert rejected.error is not None and "72-hour" in rejected.error


async def test_one_request_per_event() -> None:
    assert GA4.max_batch_size == 1
    events = [make_event(i, event_id=f"order-{i}") for i in range(1, 4)]
    prepared = GA4.prepare(events, TARGET)
    assert [r.delivery_ids for r in prepared.requests] == [[1], [2], [3]]
    assert all(len(r.json_body["events"]) == 1 for r in prepared.requests)


async def test_base_url_override_keeps_path() -> None:
    target = DestinationTarget(
        credentials={"api_secret": "k"},
        settings={"measurement_id": "G-1", "base_url": "http://127.0.0.1:8090/ga4/"},
    )
    request = only_request([make_event()], target)
    assert request.url.startswith("http://127.0.0.1:8090/ga4/mp/collect?measurement_id=G-1")


async def test_validate_debug_mode_and_eu_region_settings() -> None:
    target = DestinationTarget(
        credentials={"api_secret": "k"},
        settings={"measurement_id": "G-1", "validate": True, "region": "eu"},
    )
    request = only_request([make_event()], target)
    assert request.url.startswith("https://region1.google-analytics.com/debug/mp/collect?")
    assert "debug_mode" not in params_of(request)
    # GA4 has no test event code; its DebugView flag is the closest equivalent
    test_target = DestinationTarget(
        credentials={"api_secret": "k"}, settings={"measurement_id": "G-1", "test_event_code": "x"}
    )
    assert params_of(only_request([make_event()], test_target))["debug_mode"] is True


async def test_missing_credentials_reject_every_event() -> None:
    target = DestinationTarget(credentials={}, settings={"measurement_id": "G-1"})
    prepared = GA4.prepare([make_event(1), make_event(2)], target)
    assert prepared.requests == []
    assert [o.delivery_id for o in prepared.rejected] == [1, 2]
    assert all(o.outcome is Outcome.PERMANENT for o in prepared.rejected)
    assert "api_secret" in (prepared.rejected[0].error or "")


async def test_event_names_sanitized_or_rejected() -> None:
    sanitized = only_request([make_event(name="rx-issued.v2")])
    assert sanitized.json_body["events"][0]["name"] == "rx_issued_v2"
    assert "sent as 'rx_issued_v2'" in sanitized.warnings[1][0]
    for bad in ("session_start", "_internal", "ga_custom", "gtag.config", "1st_order", "x" * 41):
        prepared = GA4.prepare([make_event(name=bad)], TARGET)
        assert prepared.requests == [], bad
        assert prepared.rejected[0].outcome is Outcome.PERMANENT


async def test_client_id_fallback_is_stable_per_order() -> None:
    payload = {"order_revenue": 10, "storefront_id": "bosley"}
    first = only_request([make_event(1, "consult_started", payload=payload)])
    second = only_request([make_event(2, "purchase_completed", payload=payload)])
    other = only_request([make_event(3, payload=payload, event_id="another-order")])
    client_id = first.json_body["client_id"]
    assert re.fullmatch(r"\d+\.\d+", client_id)
    assert second.json_body["client_id"] == client_id
    assert other.json_body["client_id"] != client_id


async def test_numeric_ga_session_id_becomes_session_param() -> None:
    payload = {**PAYLOAD, "ga_session_id": "1700000000", "engagement_time_msec": 100}
    params = params_of(only_request([make_event(payload=payload)]))
    assert params["session_id"] == "1700000000"
    assert params["engagement_time_msec"] == 100


# --- classification ----------------------------------------------------------------------


def request_for(*delivery_ids: int) -> PreparedRequest:
    return PreparedRequest("POST", "https://x/mp/collect", list(delivery_ids))


async def test_classify_statuses() -> None:
    request = request_for(1)
    assert GA4.classify(request, HttpResult(204))[0].outcome is Outcome.DELIVERED
    limited = GA4.classify(request, HttpResult(429, {"Retry-After": "30"}))[0]
    assert limited.outcome is Outcome.RETRY and limited.retry_after == 30.0
    assert GA4.classify(request, HttpResult(503))[0].outcome is Outcome.RETRY
    assert (
        GA4.classify(request, HttpResult(None, error="timeout: read"))[0].outcome is Outcome.RETRY
    )
    assert GA4.classify(request, HttpResult(400, body="bad"))[0].outcome is Outcome.PERMANENT
    assert GA4.classify(request, HttpResult(403))[0].outcome is Outcome.PERMANENT


async def test_classify_validation_messages_in_200_body() -> None:
    body = (
        '{"validationMessages":[{"fieldPath":"client_id","description":"client_id is required.",'
        '"validationCode":"VALUE_REQUIRED"}]}'
    )
    outcome = GA4.classify(request_for(1), HttpResult(200, body=body))[0]
    assert outcome.outcome is Outcome.PERMANENT
    assert outcome.error is not None and "VALUE_REQUIRED" in outcome.error
    clean = GA4.classify(request_for(1), HttpResult(200, body='{"validationMessages":[]}'))
    assert clean[0].outcome is Outcome.DELIVERED


async def test_classify_partial_failure_by_event_index() -> None:
    body = (
        '{"validationMessages":[{"fieldPath":"events","description":"Event at index: [1] has '
        'invalid name [_x].","validationCode":"NAME_INVALID"}]}'
    )
    outcomes = GA4.classify(request_for(7, 8), HttpResult(200, body=body))
    assert [(o.delivery_id, o.outcome) for o in outcomes] == [
        (7, Outcome.DELIVERED),
        (8, Outcome.PERMANENT),
    ]


# --- sandbox round trip ------------------------------------------------------------------


def sandbox_app() -> FastAPI:
    app = FastAPI()
    app.include_router(router)
    return app


async def send(request: PreparedRequest) -> HttpResult:
    transport = httpx.ASGITransport(app=sandbox_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
        response = await client.request(
            request.method, request.url, content=request.body_bytes(), headers=request.headers
        )
    return HttpResult(response.status_code, dict(response.headers), response.text)


def sandbox_target(**settings: Any) -> DestinationTarget:
    return DestinationTarget(
        credentials={"api_secret": "k"},
        settings={"measurement_id": "G-SANDBOX", "base_url": "http://sandbox/ga4", **settings},
    )


async def test_sandbox_collect_round_trip_delivered() -> None:
    SANDBOX.reset()
    request = only_request([make_event()], sandbox_target())
    result = await send(request)
    assert result.status_code == 204 and result.body == ""
    assert GA4.classify(request, result)[0].outcome is Outcome.DELIVERED
    (record,) = SANDBOX.recorded("ga4")
    assert record.path == "/ga4/mp/collect"
    assert record.as_dict()["validation_messages"] == []


async def test_sandbox_debug_round_trip_delivered() -> None:
    SANDBOX.reset()
    request = only_request([make_event()], sandbox_target(validate=True))
    result = await send(request)
    assert result.status_code == 200
    assert result.json() == {"validationMessages": []}
    assert GA4.classify(request, result)[0].outcome is Outcome.DELIVERED


async def test_sandbox_rejects_missing_client_id_like_google() -> None:
    SANDBOX.reset()
    good = only_request([make_event()], sandbox_target(validate=True))
    body = {k: v for k, v in copy.deepcopy(good.json_body).items() if k != "client_id"}
    body["events"][0]["name"] = "_bad"
    broken = PreparedRequest("POST", good.url, [1], json_body=body, headers=good.headers)
    result = await send(broken)
    assert result.status_code == 200
    codes = {m["validationCode"] for m in result.json()["validationMessages"]}
    assert codes == {"VALUE_REQUIRED", "NAME_INVALID"}
    assert GA4.classify(broken, result)[0].outcome is Outcome.PERMANENT
    # the production endpoint stays silent (204) but the sandbox keeps the verdict
    silent = PreparedRequest(
        "POST", good.url.replace("/debug/mp/", "/mp/"), [1], json_body=body, headers=good.headers
    )
    silent_result = await send(silent)
    assert silent_result.status_code == 204
    assert GA4.classify(silent, silent_result)[0].outcome is Outcome.DELIVERED
    assert SANDBOX.recorded("ga4")[-1].as_dict()["validation_messages"]


async def test_sandbox_limits_events_and_params() -> None:
    SANDBOX.reset()
    event = {"name": "purchase", "params": {f"p{i}": i for i in range(26)}}
    body = {"client_id": "c", "events": [event] * 26}
    request = PreparedRequest(
        "POST", "http://sandbox/ga4/debug/mp/collect?measurement_id=G-1&api_secret=k", [1], body
    )
    messages = (await send(request)).json()["validationMessages"]
    assert [m["validationCode"] for m in messages].count("EXCEEDED_MAX_ENTITIES") == 27


async def test_sandbox_fault_injection_429() -> None:
    SANDBOX.reset()
    SANDBOX.faults["ga4"] = FaultConfig(kind="429", retry_after=7)
    request = only_request([make_event()], sandbox_target())
    outcome = GA4.classify(request, await send(request))[0]
    SANDBOX.reset()
    assert outcome.outcome is Outcome.RETRY and outcome.retry_after == 7.0
