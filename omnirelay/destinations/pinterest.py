"""Pinterest API for Conversions (API v5, operation ``events/create``).

Documentation facts this module relies on:

* Endpoint: ``POST https://api.pinterest.com/v5/ad_accounts/{ad_account_id}/events``; the path
  parameter matches ``^\\d+$`` (max 18 chars). ``?test=true`` marks a test request: events are
  validated and answered the same way but not recorded.
  https://developers.pinterest.com/docs/api/v5/events-create/ and the OpenAPI description
  (github.com/pinterest/api-description ``v5/openapi.yaml``, operation ``events/create``).
* Auth: ``Authorization: Bearer <conversion access token>`` generated in Ads Manager
  (security scheme ``conversion_token``).
* Body ``{"data": [...]}``: ``minItems`` 1, ``maxItems`` 1000; each event requires
  ``event_name``, ``action_source`` (app_android | app_ios | web | offline), ``event_time``
  (unix seconds), ``event_id`` and ``user_data``. Event objects and ``custom_data`` have
  ``additionalProperties: false``: one unknown key fails the whole request with a 400
  ("Invalid request: Additional properties are not allowed ...").
* ``user_data`` needs at least one of ``em``, ``hashed_maids`` or the pair
  ``client_ip_address`` + ``client_user_agent``. Hashed (SHA-256 hex, as lists): ``em``
  lowercase email; ``ph`` digits only incl. country code, no symbols/leading zeros; ``fn``/
  ``ln`` lowercase; ``ge`` f|m|n; ``db`` year-month-day; ``ct`` lowercase without spaces or
  punctuation; ``st`` two-letter code lowercase; ``zp`` digits; ``country`` ISO-3166 alpha-2
  lowercase; ``external_id``. Not hashed: ``client_ip_address``, ``client_user_agent``,
  ``click_id`` (the ``_epik`` cookie / ``&epik=`` parameter).
* ``custom_data.value`` is a STRING parsed into a double; ``currency`` ISO-4217;
  ``order_id`` helps Pinterest deduplicate; ``content_ids``/``contents``/``num_items``.
* Event names: add_payment_info, add_to_cart, add_to_wishlist, app_install, app_open, checkout,
  contact, custom, customize_product, find_location, initiate_checkout, lead, page_visit,
  schedule, search, signup, start_trial, submit_application, subscribe, view_category,
  view_content, watch_video. Advertiser-defined event names may be sent as is once defined
  and mapped in Ads Manager (max 15 per ad account):
  https://developers.pinterest.com/docs/track-conversions/define-your-own-event-types/
* Only events from the previous seven days may be sent (Amperity's Pinterest operator guide,
  which cites events-create; Pinterest's own pages do not state the number).
* Responses: 200 ``{"num_events_received", "num_events_processed", "events": [{"status":
  "processed"|"failed", "error_message", "warning_message"}]}`` in request order; errors are
  ``{"code", "message"}``: 400 (4196 invalid request), 401 (2 authentication failed), 403 (29
  not permitted), 422 DetailedError "Not all events were successfully processed", 429 (8 rate
  limit: 5,000 calls/minute per ad account), 503 (4197 ramped down).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
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
    payload_float,
    payload_str,
)
from omnirelay.destinations.hashing import (
    NormalizationError,
    hash_normalized,
    identity_value,
    normalize_city,
    normalize_country,
    normalize_email,
    normalize_external_id,
    phone_digits_in,
    state_in,
)

API_HOST = "https://api.pinterest.com"
EVENTS_PATH = "/v5/ad_accounts/{ad_account_id}/events"
MAX_EVENTS_PER_REQUEST = 1000
EVENT_TIME_WINDOW = timedelta(days=7)
ACTION_SOURCES = frozenset({"app_android", "app_ios", "web", "offline"})
STANDARD_EVENT_NAMES = frozenset(
    {
        "add_payment_info", "add_to_cart", "add_to_wishlist", "app_install", "app_open",
        "checkout", "contact", "custom", "customize_product", "find_location",
        "initiate_checkout", "lead", "page_visit", "schedule", "search", "signup",
        "start_trial", "submit_application", "subscribe", "view_category", "view_content",
        "watch_video",
    }
)  # fmt: skip
PURCHASE_EVENT_TYPE = "purchase_completed"
_AD_ACCOUNT_ID_RE = re.compile(r"^\d{1,18}$")
_FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})


# --- Pinterest-specific normalizers (where the shared ones do not match Pinterest's rules) ---


def _normalize_name(value: str) -> str:
    """Pinterest asks only for lowercase: keep inner punctuation ("o'neil"), trim the ends."""
    text = value.strip().lower()
    if not any(ch.isalpha() for ch in text):
        raise NormalizationError("name has no letters")
    return text


@lru_cache(maxsize=512)  # one normalizer per country, so hashing results are cached
def _state_normalizer(country: str | None) -> Callable[[str], str]:
    """A two-letter code (US state names mapped to theirs); any other full name would hash
    to something Pinterest cannot match."""
    normalize_in_country = state_in(country)

    def normalize(value: str) -> str:
        text = normalize_in_country(value)
        if len(text) != 2:
            raise NormalizationError("state must be a two-letter code")
        return text

    return normalize


@lru_cache(maxsize=512)  # one normalizer per country, so hashing results are cached
def _zip_normalizer(country: str | None) -> Callable[[str], str]:
    def normalize(value: str) -> str:
        text = re.sub(r"[^0-9a-z]", "", value.strip().lower())
        if (country or "us").lower() == "us":
            # "only digits": a US ZIP+4 keeps its five-digit ZIP
            text = re.sub(r"\D", "", text)[:5]
        if not text:
            raise NormalizationError("zip is empty")
        return text

    return normalize


def _normalize_gender(value: str) -> str:
    text = value.strip().lower()
    mapped = {"m": "m", "male": "m", "f": "f", "female": "f", "n": "n", "non-binary": "n"}
    if text not in mapped:
        raise NormalizationError("gender must be f, m or n")
    return mapped[text]


def _normalize_birthdate(value: str) -> str:
    """Year, month and day as YYYYMMDD."""
    text = value.strip()
    for fmt in ("%Y-%m-%d", "%Y%m%d", "%m/%d/%Y", "%Y/%m/%d"):
        try:
            return datetime.strptime(text[:10], fmt).strftime("%Y%m%d")
        except ValueError:
            continue
    raise NormalizationError("date of birth is not a date")


def _decimal_string(number: float) -> str:
    """``value`` and ``item_price`` are strings; avoid float noise like 80.79000000001."""
    return f"{number:.6f}".rstrip("0").rstrip(".")


def _is_on(value: Any) -> bool:
    return value is not None and str(value).strip().lower() not in _FALSE_WORDS


def _contents(items: Any) -> list[dict[str, Any]]:
    """OMS line items as ``custom_data.contents`` (only the keys Pinterest's schema allows)."""
    contents: list[dict[str, Any]] = []
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, Mapping):
            continue
        price = payload_float(item, "price", "item_price")
        quantity = payload_float(item, "quantity")
        content = {
            "id": payload_str(item, "item_id", "id", "sku", "product_id"),
            "item_price": None if price is None else _decimal_string(price),
            "quantity": None if quantity is None else int(quantity),
            "item_name": payload_str(item, "item_name", "name"),
        }
        if any(v is not None for v in content.values()):
            contents.append({k: v for k, v in content.items() if v is not None})
    return contents


class PinterestConversionsApi:
    """Destination for the Pinterest API for Conversions (v5).

    Dedup id: Pinterest documents ``event_id`` as "a unique id string that identifies this
    event", used to dedupe against the Pinterest tag. One order produces consult_started,
    rx_issued and purchase_completed with the same order id, so the order id alone would make
    Pinterest treat them as one event. The purchase keeps the bare order id (that is what a
    Pinterest tag checkout sends, so the two can dedupe); every other event type sends
    ``f"{order_id}:{event_type}"``. ``custom_data.order_id`` is sent only on the purchase for
    the same reason.

    Custom events: ``custom_data`` has no field for a free-form event name and rejects unknown
    keys, so a name that is not a Pinterest event name is sent as ``custom``; the original
    name survives in the ``event_id`` suffix. Names listed in
    ``settings["advertiser_defined_events"]`` (defined and mapped in Ads Manager) are sent as
    they are.
    """

    code: ClassVar[str] = "pinterest"
    max_batch_size: ClassVar[int] = MAX_EVENTS_PER_REQUEST
    default_event_names: ClassVar[Mapping[str, str]] = {
        "purchase_completed": "checkout",
        "consult_started": "lead",
        "rx_issued": "custom",
    }

    def prepare(self, events: Sequence[OutboundEvent], target: DestinationTarget) -> Prepared:
        prepared = Prepared()
        credentials_problem = self._credentials_problem(target)
        if credentials_problem is not None:
            prepared.rejected = [
                DeliveryOutcome(e.delivery_id, Outcome.PERMANENT, credentials_problem)
                for e in events
            ]
            return prepared
        token = self._access_token(target)
        action_source = str(target.settings.get("action_source") or "web")
        oldest_allowed = datetime.now(UTC) - EVENT_TIME_WINDOW

        accepted: list[tuple[OutboundEvent, dict[str, Any], list[str]]] = []
        for event in events:
            warnings: list[str] = []
            user_data = self._user_data(event.payload, warnings)
            reason = self._rejection_reason(event, user_data, oldest_allowed)
            if reason is not None:
                prepared.rejected.append(
                    DeliveryOutcome(event.delivery_id, Outcome.PERMANENT, reason)
                )
                continue
            body = self._event_body(event, target, action_source, user_data)
            accepted.append((event, body, warnings))

        url = self._url(target)
        for start in range(0, len(accepted), self.max_batch_size):
            chunk = accepted[start : start + self.max_batch_size]
            prepared.requests.append(
                PreparedRequest(
                    method="POST",
                    url=url,
                    delivery_ids=[event.delivery_id for event, _, _ in chunk],
                    json_body={"data": [body for _, body, _ in chunk]},
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Content-Type": "application/json",
                    },
                    secrets=[token],
                    warnings={event.delivery_id: w for event, _, w in chunk if w},
                )
            )
        return prepared

    # --- request building ---

    @staticmethod
    def _rejection_reason(
        event: OutboundEvent, user_data: Mapping[str, Any], oldest_allowed: datetime
    ) -> str | None:
        """Why Pinterest can never accept this event (sending it could only fail)."""
        if event.event_time < oldest_allowed:
            return "event_time is older than Pinterest's 7-day window for conversions"
        if not event.event_id.strip():
            return "missing event_id"
        # the schema's anyOf: without it the whole request would be refused with a 400
        has_ip_and_agent = {"client_ip_address", "client_user_agent"} <= user_data.keys()
        if "em" not in user_data and not has_ip_and_agent:
            return "user_data needs an email (em) or both client_ip_address and client_user_agent"
        return None

    @staticmethod
    def _access_token(target: DestinationTarget) -> str:
        token = target.credentials.get("access_token") or target.credentials.get("conversion_token")
        return str(token or "").strip()

    @staticmethod
    def _ad_account_id(target: DestinationTarget) -> str:
        value = target.credentials.get("ad_account_id") or target.settings.get("ad_account_id")
        return str(value or "").strip()

    def _credentials_problem(self, target: DestinationTarget) -> str | None:
        if not self._access_token(target):
            return "missing Pinterest conversion access token (credentials.access_token)"
        ad_account_id = self._ad_account_id(target)
        if not ad_account_id:
            return "missing Pinterest ad_account_id"
        if not _AD_ACCOUNT_ID_RE.match(ad_account_id):
            return f"invalid Pinterest ad_account_id {ad_account_id!r}: digits only, max 18"
        action_source = str(target.settings.get("action_source") or "web")
        if action_source not in ACTION_SOURCES:
            return f"invalid action_source {action_source!r}: one of {sorted(ACTION_SOURCES)}"
        return None

    def _url(self, target: DestinationTarget) -> str:
        base = target.base_url_override or API_HOST
        url = base + EVENTS_PATH.format(ad_account_id=self._ad_account_id(target))
        test_flag = target.settings.get("test_event_code") or target.credentials.get(
            "test_event_code"
        )
        if _is_on(test_flag) or _is_on(target.settings.get("test_mode")):
            url += "?test=true"
        return url

    def _event_name(self, event: OutboundEvent, target: DestinationTarget) -> str:
        name = event.destination_event_name
        if name in STANDARD_EVENT_NAMES:
            return name
        defined = target.settings.get("advertiser_defined_events") or ()
        return name if name in defined else "custom"

    @staticmethod
    def _dedup_id(event: OutboundEvent) -> str:
        if event.event_type == PURCHASE_EVENT_TYPE:
            return event.event_id
        return f"{event.event_id}:{event.event_type}"

    def _event_body(
        self,
        event: OutboundEvent,
        target: DestinationTarget,
        action_source: str,
        user_data: dict[str, Any],
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "event_name": self._event_name(event, target),
            "action_source": action_source,
            "event_time": int(event.event_time.timestamp()),
            "event_id": self._dedup_id(event),
            "user_data": user_data,
        }
        page_url = identity_value(event.payload, "page_url")
        if page_url:
            body["event_source_url"] = page_url
        partner_name = target.settings.get("partner_name")
        if partner_name:  # only when Pinterest assigned one ("ss-partnername")
            body["partner_name"] = str(partner_name)
        custom_data = self._custom_data(event)
        if custom_data:
            body["custom_data"] = custom_data
        return body

    @staticmethod
    def _custom_data(event: OutboundEvent) -> dict[str, Any]:
        payload = event.payload
        custom: dict[str, Any] = {}
        revenue = payload_float(payload, "order_revenue", "value")
        if revenue is not None:
            custom["value"] = _decimal_string(revenue)
            custom["currency"] = (payload_str(payload, "currency") or "USD").upper()
        if event.event_type == PURCHASE_EVENT_TYPE:
            custom["order_id"] = payload_str(payload, "order_id") or event.event_id
        contents = _contents(payload.get("items"))
        if contents:
            custom["contents"] = contents
            ids = [c["id"] for c in contents if "id" in c]
            if ids:
                custom["content_ids"] = ids
            custom["num_items"] = sum(c.get("quantity", 1) for c in contents)
        return custom

    @staticmethod
    def _user_data(payload: Mapping[str, Any], warnings: list[str]) -> dict[str, Any]:
        country = identity_value(payload, "country")
        try:
            region = normalize_country(country).upper() if country else "US"
        except NormalizationError:
            region = "US"
        hashed_fields: list[tuple[str, str | None, Callable[[str], str]]] = [
            ("em", identity_value(payload, "email"), normalize_email),
            ("ph", identity_value(payload, "phone"), phone_digits_in(region)),
            ("fn", identity_value(payload, "first_name"), _normalize_name),
            ("ln", identity_value(payload, "last_name"), _normalize_name),
            ("ge", payload_str(payload, "gender", "ge"), _normalize_gender),
            ("db", payload_str(payload, "date_of_birth", "dob", "birthdate", "db"),
             _normalize_birthdate),
            ("ct", identity_value(payload, "city"), normalize_city),
            ("st", identity_value(payload, "state"), _state_normalizer(region)),
            ("zp", identity_value(payload, "zip"), _zip_normalizer(country)),
            ("country", country, normalize_country),
            ("external_id", identity_value(payload, "external_id"), normalize_external_id),
        ]  # fmt: skip
        user_data: dict[str, Any] = {}
        for key, raw, normalize in hashed_fields:
            if raw is None:
                continue
            try:
                user_data[key] = [hash_normalized(raw, normalize)]
            except NormalizationError as exc:
                # never send the raw value: drop the field and say why
                warnings.append(f"user_data.{key} dropped: {exc}")
        ip = identity_value(payload, "client_ip")
        if ip:
            user_data["client_ip_address"] = ip
        user_agent = identity_value(payload, "user_agent")
        if user_agent:
            user_data["client_user_agent"] = user_agent
        click_id = identity_value(payload, "epik") or payload_str(payload, "_epik")
        if click_id:
            user_data["click_id"] = click_id
        return user_data

    # --- response classification ---

    def classify(self, request: PreparedRequest, result: HttpResult) -> list[DeliveryOutcome]:
        body = result.json()
        if result.status_code == 422:
            # "Not all events were successfully processed": when the details carry the
            # per-event list, honour it instead of failing the events Pinterest accepted
            details = body.get("details") if isinstance(body, dict) else None
            if isinstance(details, dict) and isinstance(details.get("events"), list):
                return self._per_event(request, details["events"])
        by_status = classify_by_status(request, result)
        if by_status is not None:
            return by_status
        if not isinstance(body, dict):
            return all_outcomes(request, Outcome.DELIVERED, "2xx with an unreadable body")
        events = body.get("events")
        if isinstance(events, list) and events:
            return self._per_event(request, events)
        if "code" in body and "message" in body:  # an error object inside a 2xx
            return all_outcomes(
                request, Outcome.PERMANENT, f"Pinterest error {body['code']}: {body['message']}"
            )
        processed = body.get("num_events_processed")
        if processed == 0 and request.delivery_ids:
            return all_outcomes(request, Outcome.PERMANENT, "Pinterest processed no events")
        return all_outcomes(request, Outcome.DELIVERED)

    @staticmethod
    def _per_event(request: PreparedRequest, events: list[Any]) -> list[DeliveryOutcome]:
        """Results come back in request order: one failed event does not sink the others."""
        outcomes: list[DeliveryOutcome] = []
        for index, delivery_id in enumerate(request.delivery_ids):
            if index >= len(events) or not isinstance(events[index], dict):
                # Pinterest did not report on this one; its event_id makes a resend safe
                outcomes.append(
                    DeliveryOutcome(delivery_id, Outcome.RETRY, "no per-event result returned")
                )
                continue
            status = str(events[index].get("status") or "").lower()
            if status == "processed":
                outcomes.append(DeliveryOutcome(delivery_id, Outcome.DELIVERED))
                continue
            message = events[index].get("error_message") or f"event status {status or 'missing'}"
            outcomes.append(DeliveryOutcome(delivery_id, Outcome.PERMANENT, str(message)))
        return outcomes
