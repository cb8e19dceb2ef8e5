"""Meta Conversions API destination: payload building, classification, sandbox round trip."""

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
from omnirelay.destinations.meta import BATCH_RETRY_NOTE, MetaConversionsApi
from omnirelay.sandbox.core import SANDBOX, FaultConfig
from omnirelay.sandbox.meta import router

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
TOKEN = "EAAB+secret/token"
TARGET = DestinationTarget(credentials={"pixel_id": "1234567890", "access_token": TOKEN})
PAYLOAD: dict[str, Any] = {
    "order_id": "2025020100003333",
    "order_revenue": 80.79,
    "currency": "usd",
    "email": " Jane.Doe@Example.com ",
    "phone": "+1 (650) 555-1234",
    "external_id": "cust-42",
    "client_ip_address": "203.0.113.9",
    "user_agent": "Mozilla/5.0 test",
    "fbp": "fb.1.1700000000.123",
    "fbc": "fb.1.1700000000.abc",
    "first_name": "Jane",
    "last_name": "Doe",
    "city": "Palo Alto",
    "state": "CA",
    "zip": "94301-1234",
    "country": "US",
    "page_url": "https://shop.example.com/checkout",
    "items": [{"sku": "SKU-1", "quantity": 2, "price": 20.5}, {"id": "SKU-2"}, "junk"],
}


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def event(
    delivery_id: int = 1,
    event_type: str = "purchase_completed",
    when: datetime = NOW - timedelta(hours=1),
    **overrides: Any,
) -> OutboundEvent:
    name = MetaConversionsApi.default_event_names.get(event_type, event_type)
    return OutboundEvent(
        delivery_id=delivery_id,
        event_id=f"order-{delivery_id}",
        event_type=event_type,
        destination_event_name=name,
        event_time=when,
        storefront_code="bosley",
        payload={k: v for k, v in {**PAYLOAD, **overrides}.items() if v is not None},
    )


def meta(now: datetime = NOW) -> MetaConversionsApi:
    return MetaConversionsApi(clock=lambda: now)


def target(**settings: Any) -> DestinationTarget:
    return DestinationTarget(credentials=TARGET.credentials, settings=settings)


def only_request(prepared: Any) -> PreparedRequest:
    assert prepared.rejected == []
    assert len(prepared.requests) == 1
    request: PreparedRequest = prepared.requests[0]
    return request


def result(status: int, body: Any = None, headers: Mapping[str, str] | None = None) -> HttpResult:
    text = body if isinstance(body, str) else json.dumps(body) if body is not None else ""
    return HttpResult(status_code=status, headers=dict(headers or {}), body=text)


def meta_error(code: int, subcode: int | None = None, **extra: Any) -> dict[str, Any]:
    error = {"message": "Invalid parameter", "type": "OAuthException", "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": {**error, "fbtrace_id": "Atrace", **extra}}


# ------------------------------------------------------------------ payload building
async def test_purchase_payload_fields_hashing_and_url() -> None:
    request = only_request(meta().prepare([event()], TARGET))
    assert request.method == "POST"
    assert request.url == (
        "https://graph.facebook.com/v25.0/1234567890/events?access_token=EAAB%2Bsecret%2Ftoken"
    )
    assert request.secrets == [TOKEN]  # raw: omnirelay.redaction derives its encoded forms
    assert "test_event_code" not in request.json_body
    [sent] = request.json_body["data"]
    assert sent["event_name"] == "Purchase"
    assert sent["event_id"] == "order-1"  # order id as is: Meta dedups on event_id + event_name
    assert sent["event_time"] == int((NOW - timedelta(hours=1)).timestamp())
    assert sent["action_source"] == "website"
    assert sent["event_source_url"] == "https://shop.example.com/checkout"
    assert sent["user_data"] == {
        "em": [sha("jane.doe@example.com")],
        "ph": [sha("16505551234")],
        "fn": [sha("jane")],
        "ln": [sha("doe")],
        "ct": [sha("paloalto")],
        "st": [sha("ca")],
        "zp": [sha("94301")],
        "country": [sha("us")],
        "external_id": [sha("cust-42")],
        "client_ip_address": "203.0.113.9",
        "client_user_agent": "Mozilla/5.0 test",
        "fbc": "fb.1.1700000000.abc",
        "fbp": "fb.1.1700000000.123",
    }
    assert sent["custom_data"] == {
        "value": 80.79,
        "currency": "USD",
        "order_id": "2025020100003333",
        "contents": [{"id": "SKU-1", "quantity": 2, "item_price": 20.5}, {"id": "SKU-2"}],
        "content_ids": ["SKU-1", "SKU-2"],
        "content_type": "product",
    }
    assert request.warnings == {}


async def test_event_name_mapping_and_custom_events() -> None:
    names = MetaConversionsApi.default_event_names
    assert names["purchase_completed"] == "Purchase"
    assert names["consult_started"] == "Lead"
    request = only_request(
        meta().prepare(
            [
                event(1, "consult_started", order_revenue=None),
                event(2, "rx_issued"),
                event(3, "refill_reminder"),
            ],
            TARGET,
        )
    )
    data = request.json_body["data"]
    assert [e["event_name"] for e in data] == ["Lead", "rx_issued", "refill_reminder"]
    assert "value" not in data[0]["custom_data"]  # no revenue: a Lead goes without value
    assert data[1]["custom_data"]["value"] == 80.79


async def test_already_hashed_values_pass_through_and_bad_values_are_dropped() -> None:
    hashed_email = sha("someone@example.com").upper()
    bad: dict[str, Any] = {"phone": "not a phone", "client_ip_address": "999.1.1.1"}
    request = only_request(meta().prepare([event(email=hashed_email, **bad)], TARGET))
    user_data = request.json_body["data"][0]["user_data"]
    assert user_data["em"] == [hashed_email.lower()]
    assert "ph" not in user_data and "client_ip_address" not in user_data
    assert any(w.startswith("ph dropped") for w in request.warnings[1])
    assert any(w.startswith("client_ip_address dropped") for w in request.warnings[1])
    assert not any("not a phone" in w for w in request.warnings[1])  # never echo raw PII


async def test_non_finite_amounts_are_not_sent() -> None:
    nan_lead = event(1, "consult_started", order_revenue="nan", items=[{"id": "A", "qty": "inf"}])
    request = only_request(meta().prepare([nan_lead], TARGET))
    custom_data = request.json_body["data"][0]["custom_data"]
    assert "value" not in custom_data and custom_data["contents"] == [{"id": "A"}]
    assert b"NaN" not in request.body_bytes() and b"Infinity" not in request.body_bytes()


async def test_state_names_country_names_and_fbclid() -> None:
    request = only_request(
        meta().prepare(
            [event(state="Texas", country="United States", fbc=None, fbclid="IwAR123")], TARGET
        )
    )
    user_data = request.json_body["data"][0]["user_data"]
    assert user_data["st"] == [sha("tx")]
    assert user_data["country"] == [sha("us")]
    event_ms = int((NOW - timedelta(hours=1)).timestamp() * 1000)
    assert user_data["fbc"] == f"fb.1.{event_ms}.IwAR123"


async def test_phone_without_country_code_uses_the_customer_country() -> None:
    request = only_request(meta().prepare([event(phone="020 7946 0958", country="GB")], TARGET))
    assert request.json_body["data"][0]["user_data"]["ph"] == [sha("442079460958")]


async def test_event_time_window() -> None:
    prepared = meta().prepare(
        [
            event(1, when=NOW - timedelta(days=8)),
            event(2, when=NOW + timedelta(hours=2)),
            event(3, when=NOW + timedelta(seconds=30)),
            event(4, when=NOW - timedelta(days=6, hours=23)),
        ],
        TARGET,
    )
    rejected = {o.delivery_id: o for o in prepared.rejected}
    assert set(rejected) == {1, 2}
    assert all(o.outcome is Outcome.PERMANENT for o in rejected.values())
    assert "7-day window" in (rejected[1].error or "")
    assert "future" in (rejected[2].error or "")
    [request] = prepared.requests
    assert request.delivery_ids == [3, 4]
    assert request.json_body["data"][0]["event_time"] == int(NOW.timestamp())  # clamped
    assert "ahead of our clock" in request.warnings[3][0]


async def test_required_data_rejections() -> None:
    prepared = meta().prepare(
        [
            event(1, user_agent=None),
            event(2, order_revenue=None),
            event(
                3,
                email=None,
                phone=None,
                external_id=None,
                first_name=None,
                last_name=None,
                client_ip_address=None,
                fbp=None,
                fbc=None,
                zip=None,
            ),
        ],
        target(action_source="website"),
    )
    reasons = {o.delivery_id: o.error or "" for o in prepared.rejected}
    assert "client_user_agent" in reasons[1]
    assert "Purchase requires value" in reasons[2]
    assert "insufficient customer information" in reasons[3]
    # Unconfigured, an event without a browser context goes as "other", one with it as
    # "website"; the operator can also pick the action source.
    auto = only_request(meta().prepare([event(1, user_agent=None), event(2)], TARGET))
    assert [e["action_source"] for e in auto.json_body["data"]] == ["other", "website"]
    request = only_request(
        meta().prepare([event(1, user_agent=None)], target(action_source="system_generated"))
    )
    assert request.json_body["data"][0]["action_source"] == "system_generated"


async def test_missing_or_bad_credentials_reject_every_event() -> None:
    for credentials, reason in (
        ({"pixel_id": "123"}, "access_token"),
        ({"access_token": "t"}, "pixel_id"),
        ({"pixel_id": "abc", "access_token": "t"}, "numeric"),
    ):
        prepared = meta().prepare([event(1), event(2)], DestinationTarget(credentials))
        assert prepared.requests == []
        assert [o.outcome for o in prepared.rejected] == [Outcome.PERMANENT] * 2
        assert reason in (prepared.rejected[0].error or "")


async def test_batches_split_at_the_documented_limit() -> None:
    assert MetaConversionsApi.max_batch_size == 1000
    prepared = meta().prepare([event(i) for i in range(2501)], TARGET)
    assert [len(r.delivery_ids) for r in prepared.requests] == [1000, 1000, 501]
    assert [len(r.json_body["data"]) for r in prepared.requests] == [1000, 1000, 501]


async def test_overrides_test_event_code_and_app_secret() -> None:
    request = only_request(
        meta().prepare(
            [event()],
            target(
                base_url="http://127.0.0.1:8090/meta/", api_version="26.0", test_event_code="T1"
            ),
        )
    )
    assert request.url.startswith("http://127.0.0.1:8090/meta/v26.0/1234567890/events?")
    assert request.json_body["test_event_code"] == "T1"
    with_secret = DestinationTarget(
        credentials={**TARGET.credentials, "app_secret": "shh", "test_event_code": "T2"}
    )
    request = only_request(meta().prepare([event()], with_secret))
    assert "&appsecret_proof=" in request.url and "shh" in request.secrets
    assert request.json_body["test_event_code"] == "T2"


# -------------------------------------------------------------------- classification
def batch_request(count: int = 3) -> PreparedRequest:
    return meta().prepare([event(i) for i in range(1, count + 1)], TARGET).requests[0]


async def test_classify_success_and_short_acknowledgement() -> None:
    request = batch_request()
    ok = {"events_received": 3, "messages": [], "fbtrace_id": "x"}
    assert {o.outcome for o in meta().classify(request, result(200, ok))} == {Outcome.DELIVERED}
    short = meta().classify(request, result(200, {"events_received": 1}))
    assert {o.outcome for o in short} == {Outcome.RETRY}
    assert {o.outcome for o in meta().classify(request, result(200, "<html>"))} == {Outcome.RETRY}


async def test_classify_transport_429_and_5xx() -> None:
    request = batch_request()
    transport = HttpResult(status_code=None, error="timeout: read")
    assert {o.outcome for o in meta().classify(request, transport)} == {Outcome.RETRY}
    throttled = meta().classify(request, result(429, meta_error(4), {"Retry-After": "30"}))
    assert {(o.outcome, o.retry_after) for o in throttled} == {(Outcome.RETRY, 30.0)}
    assert {o.outcome for o in meta().classify(request, result(503, "oops"))} == {Outcome.RETRY}


async def test_classify_meta_error_codes() -> None:
    request = batch_request()
    cases = [
        (meta_error(190, 463), Outcome.PERMANENT),  # expired token
        (meta_error(4), Outcome.RETRY),  # application request limit, as HTTP 400
        (meta_error(613, 1487742), Outcome.RETRY),
        (meta_error(80004), Outcome.RETRY),
        (meta_error(100, 33), Outcome.PERMANENT),  # pixel does not exist
        (meta_error(999, is_transient=True), Outcome.RETRY),
    ]
    for body, expected in cases:
        outcomes = meta().classify(request, result(400, body))
        assert {o.outcome for o in outcomes} == {expected}, body
        assert "fbtrace_id=Atrace" in (outcomes[0].error or "")
    single = batch_request(1)
    outcomes = meta().classify(single, result(400, meta_error(100, 2804050)))
    assert [o.outcome for o in outcomes] == [Outcome.PERMANENT]


async def test_classify_error_inside_a_200_body() -> None:
    outcomes = meta().classify(batch_request(), result(200, meta_error(2, is_transient=True)))
    assert {o.outcome for o in outcomes} == {Outcome.RETRY}


async def test_classify_partial_failure_names_the_bad_event() -> None:
    request = batch_request()
    body = meta_error(100, 2804050, error_user_msg="data[1]: insufficient customer information")
    outcomes = meta().classify(request, result(400, body))
    assert [(o.delivery_id, o.outcome) for o in outcomes] == [
        (1, Outcome.RETRY),
        (2, Outcome.PERMANENT),
        (3, Outcome.RETRY),
    ]
    assert outcomes[0].retry_after == 0.0
    assert "data[1]" in (outcomes[0].error or "")


async def test_classify_finds_the_event_that_aged_out_since_prepare() -> None:
    prepare_time = NOW
    request = (
        meta(prepare_time)
        .prepare([event(1, when=NOW - timedelta(days=6, hours=23)), event(2), event(3)], TARGET)
        .requests[0]
    )
    later = meta(NOW + timedelta(hours=2))  # a retry two hours later
    outcomes = later.classify(request, result(400, meta_error(100, 2804003)))
    assert [o.outcome for o in outcomes] == [Outcome.PERMANENT, Outcome.RETRY, Outcome.RETRY]


async def test_classify_unidentified_bad_event_splits_the_batch() -> None:
    outcomes = meta().classify(batch_request(), result(400, meta_error(100, 2804019)))
    assert {o.outcome for o in outcomes} == {Outcome.SPLIT}
    assert (outcomes[0].error or "").startswith(BATCH_RETRY_NOTE)


# ------------------------------------------------------------------- sandbox round trip
SANDBOX_TARGET = DestinationTarget(
    credentials={"pixel_id": "1234567890", "access_token": TOKEN},
    settings={"base_url": "http://sandbox/meta"},
)


async def send(request: PreparedRequest) -> HttpResult:
    app = FastAPI()
    app.include_router(router)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sandbox"
    ) as client:
        response = await client.request(
            request.method, request.url, content=request.body_bytes(), headers=request.headers
        )
    return HttpResult(response.status_code, dict(response.headers), response.text)


def live_events(count: int = 2) -> list[OutboundEvent]:
    now = datetime.now(UTC)
    return [event(i, when=now - timedelta(minutes=5)) for i in range(1, count + 1)]


async def test_sandbox_round_trip_delivers() -> None:
    SANDBOX.reset()
    destination = MetaConversionsApi()
    request = destination.prepare(live_events(), SANDBOX_TARGET).requests[0]
    outcomes = destination.classify(request, await send(request))
    assert {o.outcome for o in outcomes} == {Outcome.DELIVERED}
    [recorded] = SANDBOX.recorded("meta")
    assert recorded.path == "/meta/v25.0/1234567890/events"
    assert recorded.query["access_token"] == TOKEN
    assert recorded.response_body["events_received"] == 2


async def test_sandbox_rejects_missing_token_like_graph() -> None:
    SANDBOX.reset()
    request = MetaConversionsApi().prepare(live_events(), SANDBOX_TARGET).requests[0]
    request.url = request.url.split("?")[0]
    http = await send(request)
    assert http.status_code == 400
    assert http.json()["error"]["code"] == 104
    outcomes = MetaConversionsApi().classify(request, http)
    assert {o.outcome for o in outcomes} == {Outcome.PERMANENT}


async def test_sandbox_rejects_the_batch_for_one_invalid_event() -> None:
    SANDBOX.reset()
    destination = MetaConversionsApi()
    request = destination.prepare(live_events(3), SANDBOX_TARGET).requests[0]
    del request.json_body["data"][2]["user_data"]  # a required field goes missing
    http = await send(request)
    error = http.json()["error"]
    assert http.status_code == 400 and error["code"] == 100 and error["is_transient"] is False
    assert error["error_user_msg"].startswith("data[2]: user_data is required")
    outcomes = destination.classify(request, http)
    assert [o.outcome for o in outcomes] == [Outcome.RETRY, Outcome.RETRY, Outcome.PERMANENT]


async def test_sandbox_rejects_unhashed_email_and_old_events() -> None:
    SANDBOX.reset()
    request = MetaConversionsApi().prepare(live_events(1), SANDBOX_TARGET).requests[0]
    request.json_body["data"][0]["user_data"]["em"] = ["jane@example.com"]
    assert (await send(request)).json()["error"]["error_subcode"] == 2804022
    request.json_body["data"][0]["user_data"]["em"] = [sha("jane@example.com")]
    request.json_body["data"][0]["event_time"] -= 8 * 24 * 3600
    error = (await send(request)).json()["error"]
    assert error["error_subcode"] == 2804003
    assert error["error_user_title"] == "Event Timestamp Too Old"


async def test_sandbox_fault_is_retried_with_retry_after() -> None:
    SANDBOX.reset()
    SANDBOX.faults["meta"] = FaultConfig(kind="429", retry_after=7)
    request = MetaConversionsApi().prepare(live_events(), SANDBOX_TARGET).requests[0]
    outcomes = MetaConversionsApi().classify(request, await send(request))
    assert {(o.outcome, o.retry_after) for o in outcomes} == {(Outcome.RETRY, 7.0)}
    SANDBOX.reset()
