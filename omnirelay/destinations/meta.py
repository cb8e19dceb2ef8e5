"""Meta Conversions API (server events to a pixel / dataset).

Documentation facts relied on (stored copies of developers.facebook.com, via the search tool):

* Using the API (.../documentation/ads-commerce/conversions-api/using-the-api): ``POST
  https://graph.facebook.com/{API_VERSION}/{PIXEL_ID}/events?access_token={TOKEN}``, body
  ``{"data": [...], "test_event_code"?}``; "up to 1,000 events in data"; "If any event you send
  in a batch is invalid, we reject the entire batch"; an event_time more than 7 days old fails
  the entire request. Examples use v25.0 (the SDK in dev deps is v26.0); each version lives at
  least two years, and ``settings["api_version"]`` overrides the default.
* Server event parameters (.../parameters/server-event): event_name, event_time (Unix s, GMT),
  user_data, action_source (email, website, app, phone_call, chat, physical_store,
  system_generated, business_messaging, other) required; event_source_url required for website.
* Best practices: client_user_agent is required for website events; user_data made only of a
  subset of ct+country+st+zp+ge+client_user_agent, db+UA, fn+ge or ln+ge is invalid.
* Customer information parameters (.../parameters/customer-information-parameters), SHA-256
  after normalizing: em (trim, lowercase), ph (digits with country code, no '+' or leading
  zeros), fn/ln (lowercase, no punctuation, UTF-8), ct (lowercase, no punctuation or spaces),
  st (2-letter ANSI code; elsewhere lowercase letters), zp (lowercase, no space/dash, US 5
  digits), country (ISO alpha-2 lowercase), external_id ("hashing recommended").
  client_ip_address, client_user_agent, fbc (``fb.1.<ms>.<fbclid>``), fbp: never hashed.
* Custom data (.../parameters/custom-data): value + currency (ISO 4217) required for Purchase;
  order_id; content_ids; contents (id, quantity, item_price); content_type ``product``.
* Dedup (.../deduplicate-pixel-and-server-events) is on event_id AND event_name, so the order id
  goes unchanged as event_id: one order's Lead / rx_issued / Purchase differ by name and never
  collide, and Purchase stays matchable with a pixel eventID equal to the order id.
* Standard events (https://developers.facebook.com/docs/meta-pixel/reference): Purchase; Lead
  ("when a sign up is completed") for consult_started - Schedule means booking "an appointment
  to visit one of your locations"; nothing fits a prescription, so rx_issued stays custom.
* Errors (.../graph-api/guides/error-handling, .../marketing-api/overview/rate-limiting):
  ``{"error": {message, type, code, error_subcode, is_transient, error_user_title,
  error_user_msg, fbtrace_id}}``. Retry: is_transient, codes 1/2 (temporary), 4/17/32/341/613
  and 80000-80014 (throttling), 368. Permanent: 190/102/104 (token), 10/200-299 (permission),
  100 (invalid parameter; CAPI event subcodes 2804xxx, e.g. 2804003 "Event Timestamp Too Old",
  2804050 insufficient customer information). Success: ``{"events_received", "messages",
  "fbtrace_id"}``.

Limitation: Meta rejects a whole batch for one bad event and, as far as the docs show, does not
name it. ``classify`` looks for ``data[i]`` in the error and re-checks the sent events; when
neither finds the culprit in a multi-event batch, the batch is answered SPLIT and the engine
resends it in halves until the invalid event stands alone.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, ClassVar
from urllib.parse import quote

from omnirelay.destinations.base import (
    RETRYABLE_STATUSES,
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
    hash_stripped,
    identities,
    normalize_city,
    normalize_email,
    normalize_external_id,
    normalize_ip,
    normalize_name,
    phone_digits_in,
    state_in,
    zip_in,
)

GRAPH_BASE_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v25.0"
EVENT_TIME_WINDOW = timedelta(days=7)
WINDOW_SECONDS = EVENT_TIME_WINDOW.total_seconds()
# An event this close to the edge may cross it in transit and sink its whole batch.
WINDOW_SAFETY_MARGIN = timedelta(minutes=1)
# Small clock skew between the OMS and us is corrected; anything larger is bad data.
FUTURE_SKEW_TOLERANCE = timedelta(minutes=10)
ACTION_SOURCES = frozenset(
    {"email", "website", "app", "phone_call", "chat", "physical_store", "system_generated"}
    | {"business_messaging", "other"}
)
RETRYABLE_CODES = frozenset({1, 2, 4, 17, 32, 341, 368, 613}) | frozenset(range(80000, 80015))
CREDENTIAL_CODES = frozenset({10, 102, 104, 190}) | frozenset(range(200, 300))
INVALID_PARAMETER = 100
CAPI_EVENT_SUBCODES = range(2804000, 2805000)
AUTO_ACTION_SOURCE = "auto"
BATCH_RETRY_NOTE = "batch rejected by an invalid event; resending in halves to find it"
# Customer information made only of a subset of one of these is rejected by Meta.
TOO_BROAD_USER_DATA = (
    frozenset({"ct", "country", "st", "zp", "ge", "client_user_agent"}),
    frozenset({"db", "client_user_agent"}),
    frozenset({"fn", "ge"}),
    frozenset({"ln", "ge"}),
)
_DATA_INDEX_RE = re.compile(r"data\[(\d+)\]")
_API_VERSION_RE = re.compile(r"^v\d+\.\d+$")
_CURRENCY_RE = re.compile(r"[A-Z]{3}")
_COUNTRY_NAMES = {"usa": "us", "unitedstates": "us", "unitedstatesofamerica": "us"}


def normalize_meta_country(value: str) -> str:
    text = re.sub(r"[^a-z]", "", value.strip().lower())
    text = _COUNTRY_NAMES.get(text, text)
    if len(text) != 2:
        raise NormalizationError("country must be an ISO 3166-1 alpha-2 code")
    return text


@lru_cache(maxsize=1024)
def _country_or_none(value: str) -> str | None:
    """The country that decides the phone region and US rules (its own field reports a
    bad value; here it is just absent)."""
    try:
        return normalize_meta_country(value)
    except NormalizationError:
        return None


# (user_data key, identity field, normalizer); None: the normalizer depends on the country.
_HASHED_FIELDS: tuple[tuple[str, str, Callable[[str], str] | None], ...] = (
    ("em", "email", normalize_email),
    ("ph", "phone", None),
    ("fn", "first_name", normalize_name),
    ("ln", "last_name", normalize_name),
    ("ct", "city", normalize_city),
    ("st", "state", None),
    ("zp", "zip", None),
    ("country", "country", normalize_meta_country),
    ("external_id", "external_id", normalize_external_id),
)


def is_too_broad(user_data: Mapping[str, Any]) -> bool:
    keys = {key for key, value in user_data.items() if value}
    return any(keys <= combination for combination in TOO_BROAD_USER_DATA)


class MetaConversionsApi:
    code: ClassVar[str] = "meta"
    max_batch_size: ClassVar[int] = 1000
    default_event_names: ClassVar[Mapping[str, str]] = {
        "purchase_completed": "Purchase",
        "consult_started": "Lead",
        "rx_issued": "rx_issued",
    }

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self._clock = clock or (lambda: datetime.now(UTC))

    # ---------------------------------------------------------------- prepare
    def prepare(self, events: Sequence[OutboundEvent], target: DestinationTarget) -> Prepared:
        prepared = Prepared()
        creds, settings = target.credentials, target.settings
        pixel_id = payload_str(creds, "pixel_id", "dataset_id") or payload_str(settings, "pixel_id")
        token = payload_str(creds, "access_token")
        version = payload_str(settings, "api_version") or DEFAULT_API_VERSION
        version = version if version.startswith("v") else f"v{version}"
        # Without a configured action_source each event is "website" when it carries the
        # browser context Meta requires for that (user agent and page URL), else "other".
        action_source = payload_str(settings, "action_source") or AUTO_ACTION_SOURCE
        problem = None
        if not pixel_id or not token:
            missing = " and ".join(
                n for n, v in (("pixel_id", pixel_id), ("access_token", token)) if not v
            )
            problem = f"meta credentials incomplete: missing {missing}"
        elif not pixel_id.isdigit():
            problem = f"meta pixel_id must be numeric, got {pixel_id!r}"
        elif not _API_VERSION_RE.match(version):
            problem = f"meta api_version {version!r} is not like 'v25.0'"
        elif action_source not in ACTION_SOURCES and action_source != AUTO_ACTION_SOURCE:
            problem = f"meta action_source {action_source!r} is not one Meta accepts"
        if problem is not None or pixel_id is None or token is None:
            prepared.rejected = [
                DeliveryOutcome(e.delivery_id, Outcome.PERMANENT, problem) for e in events
            ]
            return prepared

        now = self._clock()
        built: list[tuple[int, dict[str, Any], list[str]]] = []
        for event in events:
            warnings: list[str] = []
            result = self._server_event(event, settings, action_source, now, warnings)
            if isinstance(result, str):
                prepared.rejected.append(
                    DeliveryOutcome(event.delivery_id, Outcome.PERMANENT, result)
                )
            else:
                built.append((event.delivery_id, result, warnings))

        base = target.base_url_override or GRAPH_BASE_URL
        url = f"{base}/{version}/{pixel_id}/events?access_token={quote(token, safe='')}"
        secrets = [token]
        app_secret = payload_str(creds, "app_secret")
        if app_secret:  # apps with "Require App Secret" need the HMAC proof of the token
            proof = hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()
            url += f"&appsecret_proof={proof}"
            secrets += [app_secret, proof]
        test_code = payload_str(settings, "test_event_code") or payload_str(
            creds, "test_event_code"
        )
        for start in range(0, len(built), self.max_batch_size):
            chunk = built[start : start + self.max_batch_size]
            body: dict[str, Any] = {"data": [server_event for _, server_event, _ in chunk]}
            if test_code:
                body["test_event_code"] = test_code
            prepared.requests.append(
                PreparedRequest(
                    method="POST",
                    url=url,
                    delivery_ids=[delivery_id for delivery_id, _, _ in chunk],
                    json_body=body,
                    headers={"Content-Type": "application/json"},
                    secrets=list(secrets),
                    warnings={d: w for d, _, w in chunk if w},
                )
            )
        return prepared

    def _server_event(
        self,
        event: OutboundEvent,
        settings: Mapping[str, Any],
        action_source: str,
        now: datetime,
        warnings: list[str],
    ) -> dict[str, Any] | str:
        """The Meta server event, or the reason it can never be accepted."""
        event_time = event.event_time.astimezone(UTC)
        if now - event_time > EVENT_TIME_WINDOW - WINDOW_SAFETY_MARGIN:
            return f"event_time {event_time.isoformat()} is outside Meta's 7-day window"
        if event_time - now > FUTURE_SKEW_TOLERANCE:
            return f"event_time {event_time.isoformat()} is in the future"
        if event_time > now:
            warnings.append("event_time was ahead of our clock; sent as now")
            event_time = now
        identity = identities(event.payload)
        user_data = self._user_data(identity, settings, event_time, warnings)
        server_event: dict[str, Any] = {
            "event_name": event.destination_event_name,
            "event_time": int(event_time.timestamp()),
            "event_id": event.event_id,
            "action_source": action_source,
            "user_data": user_data,
        }
        source_url = identity.get("page_url") or payload_str(settings, "event_source_url")
        if source_url and not source_url.lower().startswith(("http://", "https://")):
            warnings.append("event_source_url dropped: it must start with http:// or https://")
            source_url = None
        if source_url:
            server_event["event_source_url"] = source_url
        if action_source == AUTO_ACTION_SOURCE:
            has_browser = bool(source_url and "client_user_agent" in user_data)
            action_source = "website" if has_browser else "other"
            server_event["action_source"] = action_source
        if action_source == "website" and not (source_url and "client_user_agent" in user_data):
            return (
                "website events require client_user_agent and event_source_url; set settings "
                "action_source (e.g. system_generated) for events without a browser context"
            )
        if is_too_broad(user_data):
            return "insufficient customer information for Meta's baseline matching rules"
        custom_data = self._custom_data(event, warnings)
        if event.destination_event_name == "Purchase" and "value" not in custom_data:
            return "Purchase requires value and currency (order_revenue missing or invalid)"
        server_event["custom_data"] = custom_data
        return server_event

    def _user_data(
        self,
        identity: Mapping[str, str],
        settings: Mapping[str, Any],
        event_time: datetime,
        warnings: list[str],
    ) -> dict[str, Any]:
        raw_country = identity.get("country")
        country = _country_or_none(raw_country) if raw_country else None
        region = (country or payload_str(settings, "default_phone_region") or "US").upper()
        in_context = {
            "ph": phone_digits_in(region),
            "st": state_in(country),
            "zp": zip_in(country),
        }
        user_data: dict[str, Any] = {}
        for key, field, normalize in _HASHED_FIELDS:
            raw = identity.get(field)
            if raw is None:
                continue
            try:
                user_data[key] = [hash_stripped(raw, normalize or in_context[key])]
            except NormalizationError as exc:
                warnings.append(f"{key} dropped: {exc}")
        client_ip = identity.get("client_ip")
        if client_ip:
            address = normalize_ip(client_ip)
            if address:
                user_data["client_ip_address"] = address
            else:
                warnings.append("client_ip_address dropped: not an IPv4 or IPv6 address")
        user_agent = identity.get("user_agent")
        if user_agent:
            user_data["client_user_agent"] = user_agent
        fbc = identity.get("fbc")
        if not fbc:  # Meta's documented form; the event time stands in for the click time
            fbclid = identity.get("fbclid")
            fbc = f"fb.1.{int(event_time.timestamp() * 1000)}.{fbclid}" if fbclid else None
        if fbc:
            user_data["fbc"] = fbc
        fbp = identity.get("fbp")
        if fbp:
            user_data["fbp"] = fbp
        return user_data

    def _custom_data(self, event: OutboundEvent, warnings: list[str]) -> dict[str, Any]:
        payload = event.payload
        custom_data: dict[str, Any] = {}
        value = _finite(payload_float(payload, "order_revenue", "value"))
        currency = (payload_str(payload, "currency") or "USD").upper()
        if value is not None:
            if _CURRENCY_RE.fullmatch(currency):
                custom_data["value"] = value
                custom_data["currency"] = currency
            else:
                warnings.append(f"value dropped: currency {currency!r} is not ISO 4217")
        custom_data["order_id"] = payload_str(payload, "order_id") or event.event_id
        contents = _contents(payload.get("items"))
        if contents:
            custom_data["contents"] = contents
            custom_data["content_ids"] = [content["id"] for content in contents]
            custom_data["content_type"] = "product"
        return custom_data

    # --------------------------------------------------------------- classify
    def classify(self, request: PreparedRequest, result: HttpResult) -> list[DeliveryOutcome]:
        by_status = classify_by_status(request, result)
        if result.status_code is None:
            return by_status or []
        body = result.json()
        error = body.get("error") if isinstance(body, dict) else None
        if by_status is not None:
            # Retryable statuses keep their verdict (and its Retry-After); other statuses are
            # decided by Meta's error code, since Meta answers throttling with HTTP 400.
            if not isinstance(error, dict) or result.status_code in RETRYABLE_STATUSES:
                return by_status
            return self._classify_error(request, result, error)
        if isinstance(error, dict):
            return self._classify_error(request, result, error)
        received = body.get("events_received") if isinstance(body, dict) else None
        sent = len(request.delivery_ids)
        if isinstance(received, int) and received >= sent:
            return all_outcomes(request, Outcome.DELIVERED)
        # Unknown fate: resending is safe because Meta drops repeats of event_id + event_name.
        note = f"Meta acknowledged {received!r} of {sent} events: {result.body[:300]}"
        return all_outcomes(request, Outcome.RETRY, note)

    def _classify_error(
        self, request: PreparedRequest, result: HttpResult, error: Mapping[str, Any]
    ) -> list[DeliveryOutcome]:
        code = _as_int(error.get("code"))
        subcode = _as_int(error.get("error_subcode"))
        parts = [error.get(k) for k in ("message", "error_user_title", "error_user_msg")]
        detail = "; ".join([f"Meta error {code}/{subcode}", *map(str, filter(None, parts))])
        detail = f"{detail} (fbtrace_id={error.get('fbtrace_id')})"[:600]
        if error.get("is_transient") is True or code in RETRYABLE_CODES:
            return all_outcomes(request, Outcome.RETRY, detail, parse_retry_after(result.headers))
        if code in CREDENTIAL_CODES or len(request.delivery_ids) <= 1:
            return all_outcomes(request, Outcome.PERMANENT, detail)
        blamed = _blamed_index(error, len(request.delivery_ids))
        suspects = {blamed} if blamed is not None else set()
        if not suspects and code == INVALID_PARAMETER and subcode in CAPI_EVENT_SUBCODES:
            suspects = self._suspect_indices(request)
        if suspects and len(suspects) < len(request.delivery_ids):
            return [
                DeliveryOutcome(delivery_id, Outcome.PERMANENT, detail)
                if index in suspects
                else DeliveryOutcome(
                    delivery_id,
                    Outcome.RETRY,
                    f"batch rejected because of data{sorted(suspects)}; resend without it",
                    0.0,
                )
                for index, delivery_id in enumerate(request.delivery_ids)
            ]
        if code == INVALID_PARAMETER and subcode in CAPI_EVENT_SUBCODES and not suspects:
            return refused_as_a_whole(request, f"{BATCH_RETRY_NOTE}: {detail}")
        return all_outcomes(request, Outcome.PERMANENT, detail)

    def _suspect_indices(self, request: PreparedRequest) -> set[int]:
        """Events of the sent batch that Meta must reject today (e.g. aged past 7 days)."""
        parsed = request.parsed_body()
        body = parsed if isinstance(parsed, dict) else {}
        data = body.get("data")
        now = int(self._clock().timestamp())
        suspects = set()
        for index, server_event in enumerate(data if isinstance(data, list) else []):
            event = server_event if isinstance(server_event, dict) else {}
            event_time, user_data = event.get("event_time"), event.get("user_data")
            if not isinstance(event_time, int) or not isinstance(user_data, dict):
                suspects.add(index)  # malformed: cannot be what Meta accepted
                continue
            if now - event_time > WINDOW_SECONDS or is_too_broad(user_data):
                suspects.add(index)  # aged past the window since prepare, or too little data
        return suspects


def _contents(items: Any) -> list[dict[str, Any]]:
    contents = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, Mapping):
            continue
        item_id = payload_str(item, "id", "item_id", "sku", "product_id")
        if item_id is None:
            continue
        quantity = _finite(payload_float(item, "quantity", "qty"))
        price = _finite(payload_float(item, "item_price", "price"))
        content: dict[str, Any] = {"id": item_id}
        content |= {"quantity": int(quantity)} if quantity is not None else {}
        content |= {"item_price": price} if price is not None else {}
        contents.append(content)
    return contents


def _finite(number: float | None) -> float | None:
    """NaN/inf would serialize as invalid JSON and sink the whole batch."""
    return number if number is not None and math.isfinite(number) else None


def _as_int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _blamed_index(error: Mapping[str, Any], batch_size: int) -> int | None:
    """The event index Meta names in its error text or error_data (e.g. ``data[3]``)."""
    texts = [error.get(k) for k in ("error_user_msg", "message", "error_user_title")]
    texts.append(json.dumps(error.get("error_data"), default=str))
    indices = {int(m) for text in texts if text for m in _DATA_INDEX_RE.findall(str(text))}
    indices = {index for index in indices if index < batch_size}
    return indices.pop() if len(indices) == 1 else None
