"""Generic webhook: body shape, batching, HMAC signing, secrets and classification (no network)."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from omnirelay.destinations.base import (
    DestinationTarget,
    HttpResult,
    OutboundEvent,
    Outcome,
    PreparedRequest,
)
from omnirelay.destinations.webhook import (
    MAX_BATCH_SIZE,
    SIGNATURE_HEADER,
    GenericWebhook,
    sign,
    verify_signature,
)

URL = "https://hooks.example.com/omnirelay/in?source=shop"
SECRET = "whsec_test_0123456789"
NOW = 1_738_400_000  # fixed signing clock (2025-02-01T09:20:00Z)
HOOK = GenericWebhook(clock=lambda: float(NOW))
EVENT_TIME = datetime(2025, 2, 1, 10, 0, tzinfo=UTC)


def make_event(delivery_id: int = 1, **overrides: Any) -> OutboundEvent:
    fields: dict[str, Any] = {
        "delivery_id": delivery_id,
        "event_id": f"order-{delivery_id}",
        "event_type": "purchase_completed",
        "destination_event_name": "Purchase",
        "event_time": EVENT_TIME,
        "storefront_code": "shop-eu",
        "payload": {"order_id": f"order-{delivery_id}", "order_revenue": 80.79, "currency": "EUR"},
    }
    fields.update(overrides)
    return OutboundEvent(**fields)


def target(settings: dict[str, Any] | None = None, **credentials: Any) -> DestinationTarget:
    return DestinationTarget(credentials={"url": URL, **credentials}, settings=settings or {})


def only_request(events: list[OutboundEvent], tgt: DestinationTarget) -> PreparedRequest:
    prepared = HOOK.prepare(events, tgt)
    assert prepared.rejected == []
    assert len(prepared.requests) == 1
    return prepared.requests[0]


def expected_signature(body: bytes, t: int = NOW, secret: str = SECRET) -> str:
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


# ------------------------------------------------------------------ contract


def test_class_attributes() -> None:
    assert GenericWebhook.code == "webhook"
    assert GenericWebhook.max_batch_size == MAX_BATCH_SIZE == 500
    assert dict(GenericWebhook.default_event_names) == {}


# -------------------------------------------------------------------- prepare


def test_single_event_body() -> None:
    request = only_request([make_event()], target())
    assert request.method == "POST"
    assert request.url == URL
    assert request.delivery_ids == [1]
    assert request.json_body == {
        "event_id": "order-1",
        "event_name": "Purchase",
        "event_type": "purchase_completed",
        "event_time": "2025-02-01T10:00:00+00:00",
        "storefront_id": "shop-eu",
        "payload": {"order_id": "order-1", "order_revenue": 80.79, "currency": "EUR"},
    }
    assert request.headers["Content-Type"] == "application/json"
    assert SIGNATURE_HEADER not in request.headers  # no secret, no signature
    assert request.secrets == []


def test_event_time_is_converted_to_utc() -> None:
    local = EVENT_TIME.astimezone(timezone(timedelta(hours=2)))
    request = only_request([make_event(event_time=local)], target())
    assert request.json_body["event_time"] == "2025-02-01T10:00:00+00:00"


def test_event_name_passes_through_when_unmapped() -> None:
    event = make_event(destination_event_name="purchase_completed")
    request = only_request([event], target())
    assert request.json_body["event_name"] == "purchase_completed"


def test_unbatched_by_default_one_request_per_event() -> None:
    prepared = HOOK.prepare([make_event(i) for i in (1, 2, 3)], target())
    assert [r.delivery_ids for r in prepared.requests] == [[1], [2], [3]]
    assert [r.json_body["event_id"] for r in prepared.requests] == ["order-1", "order-2", "order-3"]


def test_batch_size_setting_wraps_events() -> None:
    events = [make_event(i) for i in range(1, 6)]
    prepared = HOOK.prepare(events, target({"batch_size": 2}))
    assert [r.delivery_ids for r in prepared.requests] == [[1, 2], [3, 4], [5]]
    first = prepared.requests[0].json_body
    assert list(first) == ["events"]
    assert [e["event_id"] for e in first["events"]] == ["order-1", "order-2"]
    # a batch of one keeps the batch shape so receivers see one format
    assert prepared.requests[2].json_body == {
        "events": [prepared.requests[2].json_body["events"][0]]
    }


@pytest.mark.parametrize(
    ("setting", "expected_requests"),
    [(None, 3), ("2", 2), (0, 3), (-4, 3), ("lots", 3), (True, 3), (10_000, 1)],
)
def test_batch_size_is_clamped(setting: Any, expected_requests: int) -> None:
    settings = {} if setting is None else {"batch_size": setting}
    prepared = HOOK.prepare([make_event(i) for i in (1, 2, 3)], target(settings))
    assert len(prepared.requests) == expected_requests


def test_batch_size_never_exceeds_500() -> None:
    events = [make_event(i) for i in range(1, 502)]
    prepared = HOOK.prepare(events, target({"batch_size": 999}))
    assert [len(r.delivery_ids) for r in prepared.requests] == [500, 1]


def test_no_events_no_requests() -> None:
    prepared = HOOK.prepare([], target())
    assert prepared.requests == [] and prepared.rejected == []


def test_non_json_payload_values_are_stringified() -> None:
    event = make_event(payload={"amount": Decimal("10.50"), "at": EVENT_TIME, "n": 1})
    request = only_request([event], target(secret=SECRET))
    assert request.json_body["payload"] == {
        "amount": "10.50",
        "at": "2025-02-01 10:00:00+00:00",
        "n": 1,
    }
    request.body_bytes()  # serializable


# ------------------------------------------------------------------ signature


def test_signature_covers_the_exact_body_bytes() -> None:
    request = only_request([make_event()], target(secret=SECRET))
    body = request.body_bytes()
    assert request.headers[SIGNATURE_HEADER] == expected_signature(body)
    assert verify_signature(SECRET, request.headers[SIGNATURE_HEADER], body, now=NOW)


def test_signature_on_batched_body() -> None:
    prepared = HOOK.prepare(
        [make_event(1), make_event(2)], target({"batch_size": 10}, secret=SECRET)
    )
    (request,) = prepared.requests
    assert request.headers[SIGNATURE_HEADER] == expected_signature(request.body_bytes())


def test_signature_uses_non_ascii_body_bytes() -> None:
    event = make_event(payload={"city": "Zürich", "note": "café ☕"})
    request = only_request([event], target(secret=SECRET))
    body = request.body_bytes()
    assert "Zürich".encode() in body  # ensure_ascii=False: raw UTF-8, not \\u escapes
    assert request.headers[SIGNATURE_HEADER] == expected_signature(body)


def test_secret_goes_to_secrets() -> None:
    request = only_request([make_event()], target(secret=SECRET))
    assert SECRET in request.secrets
    assert SECRET not in request.headers[SIGNATURE_HEADER]


def test_blank_secret_means_unsigned() -> None:
    request = only_request([make_event()], target(secret="  "))
    assert SIGNATURE_HEADER not in request.headers
    assert request.secrets == []


def test_custom_headers_are_sent_and_secret_values_scrubbed() -> None:
    headers = {
        "Authorization": "Bearer hook-token-123",
        "X-Api-Key": "k-456",
        "Accept": "application/json",
        "content-type": "application/vnd.acme+json",
    }
    request = only_request([make_event()], target(secret=SECRET, headers=headers))
    assert request.headers["Authorization"] == "Bearer hook-token-123"
    assert request.headers["X-Api-Key"] == "k-456"
    # a custom header replaces the default regardless of case
    assert request.headers["content-type"] == "application/vnd.acme+json"
    assert "Content-Type" not in request.headers
    assert set(request.secrets) == {"Bearer hook-token-123", "k-456", SECRET}


def test_headers_given_as_json_text() -> None:
    request = only_request([make_event()], target(headers='{"X-Token": "abc"}'))
    assert request.headers["X-Token"] == "abc"
    assert request.secrets == ["abc"]


def test_custom_header_cannot_forge_the_signature() -> None:
    forged = {"x-omnirelay-signature": "t=1,v1=deadbeef"}
    request = only_request([make_event()], target(secret=SECRET, headers=forged))
    signatures = [v for k, v in request.headers.items() if k.lower() == "x-omnirelay-signature"]
    assert signatures == [expected_signature(request.body_bytes())]


# ------------------------------------------------------------ invalid targets


@pytest.mark.parametrize(
    ("credentials", "reason"),
    [
        ({"url": ""}, "url is required"),
        ({"url": None}, "url is required"),
        ({"url": "ftp://hooks.example.com/in"}, "absolute http(s) URL"),
        ({"url": "/relative/path"}, "absolute http(s) URL"),
        ({"url": URL, "headers": ["Authorization"]}, "headers must be a JSON object"),
        ({"url": URL, "headers": "not json"}, "headers must be a JSON object"),
        ({"url": URL, "headers": {"X-Evil": "a\r\nInjected: 1"}}, "invalid header"),
        ({"url": URL, "headers": {"Bad:Name": "v"}}, "invalid header"),
    ],
)
def test_unusable_credentials_reject_every_event(credentials: dict[str, Any], reason: str) -> None:
    tgt = DestinationTarget(credentials=credentials)
    prepared = HOOK.prepare([make_event(1), make_event(2)], tgt)
    assert prepared.requests == []
    assert [o.delivery_id for o in prepared.rejected] == [1, 2]
    for outcome in prepared.rejected:
        assert outcome.outcome is Outcome.PERMANENT
        assert outcome.error is not None and outcome.error.startswith("webhook: ")
        assert reason in outcome.error


def test_missing_url_key_rejects() -> None:
    prepared = HOOK.prepare([make_event()], DestinationTarget(credentials={"secret": SECRET}))
    assert prepared.rejected[0].outcome is Outcome.PERMANENT


# -------------------------------------------------------------- base_url override


def test_base_url_override_keeps_path_and_query() -> None:
    tgt = target({"base_url": "http://127.0.0.1:8090/webhook/"})
    request = only_request([make_event()], tgt)
    assert request.url == "http://127.0.0.1:8090/webhook/omnirelay/in?source=shop"


def test_base_url_override_from_credentials() -> None:
    tgt = DestinationTarget(
        credentials={"url": "https://hooks.example.com", "base_url": "http://proxy.local"}
    )
    assert only_request([make_event()], tgt).url == "http://proxy.local"


# ------------------------------------------------------------------- classify


def classify(status: int | None, **kwargs: Any) -> list[Any]:
    prepared = HOOK.prepare([make_event(1), make_event(2)], target({"batch_size": 2}))
    return HOOK.classify(prepared.requests[0], HttpResult(status_code=status, **kwargs))


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_2xx_is_delivered(status: int) -> None:
    outcomes = classify(status, body="not even json")
    assert [(o.delivery_id, o.outcome, o.error) for o in outcomes] == [
        (1, Outcome.DELIVERED, None),
        (2, Outcome.DELIVERED, None),
    ]


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504])
def test_transient_statuses_retry(status: int) -> None:
    outcomes = classify(status, body="busy")
    assert {o.outcome for o in outcomes} == {Outcome.RETRY}
    assert all(o.error and f"HTTP {status}" in o.error for o in outcomes)


def test_retry_after_is_passed_on() -> None:
    outcomes = classify(429, headers={"Retry-After": "42"})
    assert [o.retry_after for o in outcomes] == [42.0, 42.0]


@pytest.mark.parametrize("status", [301, 400, 401, 403, 404, 410, 422])
def test_other_statuses_are_permanent(status: int) -> None:
    outcomes = classify(status, body='{"error": "nope"}')
    assert {o.outcome for o in outcomes} == {Outcome.PERMANENT}


def test_transport_error_retries() -> None:
    outcomes = classify(None, error="timeout: read timed out")
    assert {o.outcome for o in outcomes} == {Outcome.RETRY}
    assert outcomes[0].error == "timeout: read timed out"


# ------------------------------------------------------------ verify_signature


BODY = json.dumps({"event_id": "order-1"}, separators=(",", ":")).encode()


def test_verify_accepts_a_fresh_signature() -> None:
    header = sign(SECRET, BODY, NOW)
    assert verify_signature(SECRET, header, BODY, now=NOW + 299)
    assert verify_signature(SECRET, header, BODY, now=NOW - 299)


def test_verify_uses_the_current_time_by_default() -> None:
    import time

    header = sign(SECRET, BODY, int(time.time()))
    assert verify_signature(SECRET, header, BODY)
    assert not verify_signature(SECRET, sign(SECRET, BODY, NOW), BODY)  # long expired


def test_verify_rejects_outside_tolerance() -> None:
    header = sign(SECRET, BODY, NOW)
    assert not verify_signature(SECRET, header, BODY, now=NOW + 301)
    assert not verify_signature(SECRET, header, BODY, now=NOW - 301)
    assert verify_signature(SECRET, header, BODY, tolerance_s=600, now=NOW + 301)
    assert verify_signature(SECRET, header, BODY, tolerance_s=None, now=NOW + 10**6)


def test_verify_rejects_tampering() -> None:
    header = sign(SECRET, BODY, NOW)
    assert not verify_signature(SECRET, header, BODY + b" ", now=NOW)
    assert not verify_signature("other-secret", header, BODY, now=NOW)
    moved = header.replace(f"t={NOW}", f"t={NOW + 1}")
    assert not verify_signature(SECRET, moved, BODY, now=NOW)


def test_verify_accepts_any_matching_v1() -> None:
    good = sign(SECRET, BODY, NOW).split(",")[1]
    header = f"t={NOW},v1={'0' * 64},{good}"
    assert verify_signature(SECRET, header, BODY, now=NOW)
    assert verify_signature(
        SECRET, header.upper().replace("T=", "t=").replace("V1=", "v1="), BODY, now=NOW
    )


@pytest.mark.parametrize(
    "header",
    [None, "", "garbage", f"t={NOW}", "v1=abc", f"t=soon,v1={'a' * 64}", f"t={NOW},v0=abc"],
)
def test_verify_rejects_malformed_headers(header: str | None) -> None:
    assert not verify_signature(SECRET, header, BODY, now=NOW)


def test_verify_needs_a_secret() -> None:
    header = sign("", BODY, NOW)
    assert not verify_signature("", header, BODY, now=NOW)


def test_prepared_request_round_trips_through_verify() -> None:
    """What a receiver sees (raw body + header) verifies with the shared secret."""
    prepared = HOOK.prepare(
        [make_event(i) for i in (1, 2, 3)], target({"batch_size": 3}, secret=SECRET)
    )
    (request,) = prepared.requests
    raw = request.body_bytes()
    assert json.loads(raw) == request.json_body
    assert verify_signature(SECRET, request.headers[SIGNATURE_HEADER], raw, now=NOW + 5)
