"""TikTok Events API 2.0 (Marketing API v1.3, ``/event/track/``) for web events.

Documentation facts relied on (checked through the search tool):

* Endpoint ``POST https://business-api.tiktok.com/open_api/v1.3/event/track/``, token in the
  ``Access-Token`` header, body ``{"event_source": "web", "event_source_id": <pixel code>,
  "test_event_code"?, "data": [...]}`` - TikTok Events API 2.0 "Report web events"
  (https://business-api.tiktok.com/portal/docs?id=1771100865818625; request model mirrored in
  the bububa/tiktok-business SDK ``model/event/track.go`` and TikTok's own payload helper).
* ``data`` holds at most 1,000 events; a request with more is rejected as a whole (same page).
* ``event`` and ``event_time`` (Unix seconds, UTC) are required; ``event_id`` is required when
  the pixel also reports the event. TikTok deduplicates on ``event_source_id`` + ``event_id`` +
  ``event`` (Events API 2.0 - Event deduplication), so one order id can be reused for
  consult_started / rx_issued / purchase_completed without colliding.
* ``user.email``: trim, lowercase, SHA-256. ``user.phone``: E.164 *with* the leading ``+``
  (e.g. ``+12133734253``), then SHA-256. ``user.external_id``: SHA-256 of the trimmed value
  (TikTok's example hashes ``user_123`` as is; no lowercasing is documented). ``ip``,
  ``user_agent``, ``ttclid`` and ``ttp`` are sent unhashed.
* ``properties``: ``value`` (number), ``currency`` (ISO 4217), ``content_type``
  (``product``/``product_group``), ``contents[]`` (``content_id``, ``content_name``,
  ``content_category``, ``price``, ``quantity``, ``brand``), ``order_id``; ``page.url``.
* Standard events (https://ads.tiktok.com/help/article/supported-standard-events, Sept 2025):
  ``Purchase`` ("when placing an order and making a purchase are the same", it replaced
  ``CompletePayment``), ``Contact`` ("when a visitor contacts you"), ``Schedule`` ("when a
  visitor schedules an appointment"). Any other name is a custom event.
* Responses are HTTP 200 ``{"code": 0, "message": "OK", "request_id": ..., "data": {...}}``;
  a non-zero ``code`` is an error (Appendix - Return Codes,
  https://business-api.tiktok.com/portal/docs?id=1737172488964097, referenced by the official
  tiktok-business-api-sdk ``InlineResponse200``). Codes used here: 40001 / 40002 (permission,
  invalid parameter, e.g. ``{"code":40002,"message":"Invalid value for event_id: not a valid
  string."}`` seen in stape-io/tiktok-tag#10) are permanent; 40100 is the QPS/QPM limit and
  40700 a transient internal error (both retried by RudderStack's TikTok handler); 5xxxx are
  system errors and retried.
* Event-time window: TikTok documents no hard web-event cut-off; its longest click-through
  attribution window (and the offline-event limit) is 28 days, so older events cannot be
  attributed and are rejected here as PERMANENT.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from omnirelay.destinations.base import (
    DeliveryOutcome,
    DestinationTarget,
    HttpResult,
    OutboundEvent,
    Outcome,
    Prepared,
    PreparedRequest,
    all_outcomes,
    classify_by_status,
    parse_retry_after,
    payload_float,
    payload_str,
    refused_as_a_whole,
)
from omnirelay.destinations.hashing import (
    NormalizationError,
    hash_normalized,
    identity_value,
    normalize_country,
    normalize_email,
    phone_e164_in,
)

TIKTOK_BASE_URL = "https://business-api.tiktok.com"
TRACK_PATH = "/open_api/v1.3/event/track/"

# Return codes that mean "try again later"; every other non-zero 4xxxx code is permanent.
RATE_LIMIT_CODE = 40100
TRANSIENT_CODES = frozenset({RATE_LIMIT_CODE, 40700})
# Validation messages name the failing item, e.g. "data[3].event_time" or "data.3.event_time".
_ITEM_INDEX_RE = re.compile(r"\bdata(?:\[(\d+)\]|\.(\d+)\b)")


def _normalize_external_id(value: str) -> str:
    """Trimmed only: TikTok hashes external ids as given (``user_123`` in its example)."""
    text = value.strip()
    if not text:
        raise NormalizationError("external id is empty")
    return text


class TikTokEventsApi:
    """TikTok Events API 2.0 for web events (one pixel = one ``event_source_id``).

    Dedup: ``event_id`` is the order id unchanged. TikTok deduplicates on the triple
    (pixel, event_id, event name), so the consult, prescription and purchase events of one
    order do not collapse into one, and the browser pixel can reuse the plain order id.
    """

    code: ClassVar[str] = "tiktok"
    max_batch_size: ClassVar[int] = 1000
    default_event_names: ClassVar[Mapping[str, str]] = {
        "purchase_completed": "Purchase",
        # A consult is the customer reaching out to a provider; "Schedule" would imply a
        # booked appointment, which an asynchronous telehealth consult is not.
        "consult_started": "Contact",
        "rx_issued": "rx_issued",  # no standard equivalent: sent as a custom event
    }
    # Longest click-through attribution window TikTok offers; older events cannot be matched.
    max_event_age: ClassVar[timedelta] = timedelta(days=28)

    def prepare(self, events: Sequence[OutboundEvent], target: DestinationTarget) -> Prepared:
        prepared = Prepared()
        access_token = _setting(target, "access_token", "accessToken", "token")
        pixel_code = _setting(target, "pixel_code", "pixel_id", "event_source_id", "pixelCode")
        if not access_token or not pixel_code:
            missing = [
                name
                for name, value in (("access_token", access_token), ("pixel_code", pixel_code))
                if not value
            ]
            reason = f"tiktok credentials missing: {', '.join(missing)}"
            prepared.rejected = [
                DeliveryOutcome(e.delivery_id, Outcome.PERMANENT, reason) for e in events
            ]
            return prepared

        now = datetime.now(UTC)
        sendable: list[OutboundEvent] = []
        for event in events:
            age = now - event.event_time
            if age > self.max_event_age:
                prepared.rejected.append(
                    DeliveryOutcome(
                        event.delivery_id,
                        Outcome.PERMANENT,
                        f"event_time {event.event_time.isoformat()} is older than TikTok's "
                        f"{self.max_event_age.days}-day attribution window",
                    )
                )
            else:
                sendable.append(event)

        base = target.base_url_override or TIKTOK_BASE_URL
        test_event_code = _setting(target, "test_event_code")
        for start in range(0, len(sendable), self.max_batch_size):
            chunk = sendable[start : start + self.max_batch_size]
            request = PreparedRequest(
                method="POST",
                url=f"{base}{TRACK_PATH}",
                delivery_ids=[e.delivery_id for e in chunk],
                headers={"Access-Token": access_token, "Content-Type": "application/json"},
                secrets=[access_token],
            )
            body: dict[str, Any] = {"event_source": "web", "event_source_id": pixel_code}
            if test_event_code:
                body["test_event_code"] = test_event_code
            body["data"] = [self._event_item(e, request.warnings) for e in chunk]
            request.json_body = body
            prepared.requests.append(request)
        return prepared

    def _event_item(self, event: OutboundEvent, warnings: dict[int, list[str]]) -> dict[str, Any]:
        payload = event.payload
        item: dict[str, Any] = {
            "event": event.destination_event_name,
            "event_time": int(event.event_time.timestamp()),
            "event_id": str(event.event_id),
        }
        dropped: list[str] = []
        user = _user_data(payload, dropped)
        if dropped:
            warnings[event.delivery_id] = dropped
        if user:
            item["user"] = user
        item["properties"] = _properties(event)
        page_url = identity_value(payload, "page_url")
        if page_url:
            page: dict[str, str] = {"url": page_url}
            referrer = payload_str(payload, "referrer", "page_referrer")
            if referrer:
                page["referrer"] = referrer
            item["page"] = page
        return item

    def classify(self, request: PreparedRequest, result: HttpResult) -> list[DeliveryOutcome]:
        by_status = classify_by_status(request, result)
        if by_status is not None:
            return by_status
        body = result.json()
        if not isinstance(body, Mapping) or "code" not in body:
            # A 2xx that is not TikTok's envelope (proxy page, truncated body): unknown fate,
            # and resending is safe because TikTok deduplicates on event_id.
            return all_outcomes(request, Outcome.RETRY, f"unexpected response: {result.body[:300]}")
        try:
            code = int(body["code"])
        except (TypeError, ValueError):
            return all_outcomes(request, Outcome.RETRY, f"unexpected code: {body['code']!r}")
        if code == 0:
            return all_outcomes(request, Outcome.DELIVERED)
        message = str(body.get("message") or "")
        detail = f"tiktok code {code}: {message}"
        if request_id := body.get("request_id"):
            detail += f" (request_id {request_id})"
        if code in TRANSIENT_CODES or code >= 50000:
            return all_outcomes(request, Outcome.RETRY, detail, parse_retry_after(result.headers))
        return self._permanent(request, detail, message)

    @staticmethod
    def _permanent(request: PreparedRequest, detail: str, message: str) -> list[DeliveryOutcome]:
        """TikTok rejects a whole batch for one bad item; blame only the item it names.

        The other deliveries were not recorded either, so they go back as RETRY and are sent
        again without the bad one.
        """
        match = _ITEM_INDEX_RE.search(message)
        if match is None or len(request.delivery_ids) == 1:
            return refused_as_a_whole(request, detail)
        index = int(match.group(1) or match.group(2))
        if index >= len(request.delivery_ids):
            return all_outcomes(request, Outcome.PERMANENT, detail)
        culprit = request.delivery_ids[index]
        return [
            DeliveryOutcome(d, Outcome.PERMANENT, detail)
            if d == culprit
            else DeliveryOutcome(d, Outcome.RETRY, f"batch rejected for another event: {detail}")
            for d in request.delivery_ids
        ]


def _setting(target: DestinationTarget, *keys: str) -> str | None:
    """First non-empty value among ``keys``, credentials before settings."""
    return payload_str(target.credentials, *keys) or payload_str(target.settings, *keys)


def _user_data(payload: Mapping[str, Any], warnings: list[str]) -> dict[str, str]:
    user: dict[str, str] = {}
    country = identity_value(payload, "country")
    try:
        region = normalize_country(country).upper() if country else "US"
    except NormalizationError:
        region = "US"
    hashed_fields = (
        ("email", "email", normalize_email),
        ("phone", "phone", phone_e164_in(region)),
        ("external_id", "external_id", _normalize_external_id),
    )
    for source_field, tiktok_field, normalize in hashed_fields:
        raw = identity_value(payload, source_field)
        if raw is None:
            continue
        try:
            user[tiktok_field] = hash_normalized(raw, normalize)
        except NormalizationError as exc:
            warnings.append(f"{tiktok_field} dropped: {exc}")
    for source_field, tiktok_field in (
        ("client_ip", "ip"),
        ("user_agent", "user_agent"),
        ("ttclid", "ttclid"),
        ("ttp", "ttp"),
    ):
        value = identity_value(payload, source_field)
        if value:
            user[tiktok_field] = value
    return user


def _properties(event: OutboundEvent) -> dict[str, Any]:
    payload = event.payload
    properties: dict[str, Any] = {"currency": (payload_str(payload, "currency") or "USD").upper()}
    value = payload_float(payload, "order_revenue", "value")
    if value is not None:
        properties["value"] = value
    contents = _contents(payload.get("items"))
    if contents:
        properties["content_type"] = "product"
        properties["contents"] = contents
    properties["order_id"] = payload_str(payload, "order_id") or str(event.event_id)
    return properties


def _contents(items: Any) -> list[dict[str, Any]]:
    if not isinstance(items, list):
        return []
    contents: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        content: dict[str, Any] = {}
        content_id = payload_str(item, "content_id", "item_id", "sku", "product_id", "id")
        if content_id:
            content["content_id"] = content_id
        name = payload_str(item, "content_name", "item_name", "product_name", "name")
        if name:
            content["content_name"] = name
        category = payload_str(item, "content_category", "item_category", "category")
        if category:
            content["content_category"] = category
        brand = payload_str(item, "brand", "item_brand")
        if brand:
            content["brand"] = brand
        price = payload_float(item, "price", "item_price")
        if price is not None:
            content["price"] = price
        quantity = payload_float(item, "quantity", "qty")
        if quantity is not None:
            content["quantity"] = int(quantity)
        if content:
            contents.append(content)
    return contents
