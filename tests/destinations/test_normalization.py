"""Customer-data normalization of every destination that hashes it, against one table of
cases: national and international phone numbers of several countries, US states by name and
by code, and each platform's documented example. Expected values are computed here from the
documented normalized form, never from the module under test."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from omnirelay.destinations.base import Destination, DestinationTarget, OutboundEvent
from omnirelay.destinations.ga4 import Ga4MeasurementProtocol
from omnirelay.destinations.meta import MetaConversionsApi
from omnirelay.destinations.pinterest import PinterestConversionsApi
from omnirelay.destinations.snapchat import SnapchatConversionsApi
from omnirelay.destinations.tiktok import TikTokEventsApi


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Platform:
    destination: Destination
    target: DestinationTarget
    event_name: str
    phone_has_plus: bool  # E.164 with "+" (TikTok, GA4) or digits only (Meta, Snapchat, ...)
    user_data: Callable[[dict[str, Any]], dict[str, Any]]

    def prepare(self, **payload: Any) -> dict[str, Any]:
        event = OutboundEvent(
            delivery_id=1,
            event_id="2025020100003333",
            event_type="purchase_completed",
            destination_event_name=self.event_name,
            event_time=datetime.now(UTC) - timedelta(minutes=5),
            storefront_code="bosley",
            payload={**BASE_PAYLOAD, **payload},
        )
        prepared = self.destination.prepare([event], self.target)
        assert prepared.rejected == []
        (request,) = prepared.requests
        return self.user_data(request.json_body)


BASE_PAYLOAD: dict[str, Any] = {
    "order_id": "2025020100003333",
    "order_revenue": 80.79,
    "currency": "USD",
    "email": "jane@example.com",
    "client_ip_address": "203.0.113.9",
    "user_agent": "Mozilla/5.0",
    "page_url": "https://shop.example.com/checkout",
}

META = Platform(
    MetaConversionsApi(),
    DestinationTarget(credentials={"pixel_id": "1234567890", "access_token": "t"}),
    "Purchase",
    False,
    lambda body: body["data"][0]["user_data"],
)
SNAPCHAT = Platform(
    SnapchatConversionsApi(),
    DestinationTarget(credentials={"pixel_id": "pixel-1", "access_token": "t"}),
    "PURCHASE",
    False,
    lambda body: body["data"][0]["user_data"],
)
PINTEREST = Platform(
    PinterestConversionsApi(),
    DestinationTarget(credentials={"access_token": "t", "ad_account_id": "549755885175"}),
    "checkout",
    False,
    lambda body: body["data"][0]["user_data"],
)
TIKTOK = Platform(
    TikTokEventsApi(),
    DestinationTarget(credentials={"access_token": "t", "pixel_code": "PIXEL1"}),
    "Purchase",
    True,
    lambda body: body["data"][0]["user"],
)
GA4 = Platform(
    Ga4MeasurementProtocol(),
    DestinationTarget(credentials={"api_secret": "s"}, settings={"measurement_id": "G-TEST123"}),
    "purchase",
    True,
    lambda body: body["user_data"],
)
PLATFORMS = {"meta": META, "snapchat": SNAPCHAT, "pinterest": PINTEREST, "tiktok": TIKTOK}
PLATFORMS["ga4"] = GA4
# The user_data key of the hashed phone and state on each platform.
PHONE_KEYS = {"meta": "ph", "snapchat": "ph", "pinterest": "ph", "tiktok": "phone"}
PHONE_KEYS["ga4"] = "sha256_phone_number"
STATE_PLATFORMS = ("meta", "snapchat", "pinterest")  # GA4 sends its region in clear, as a name

# (as written, the event's country, E.164)
PHONE_CASES = [
    ("+1 (650) 555-1234", "US", "+16505551234"),
    ("(650) 555-1234", "US", "+16505551234"),
    ("650.555.1234", None, "+16505551234"),  # no country: read as US
    ("020 7946 0018", "GB", "+442079460018"),
    ("+44 20 7946 0018", "GB", "+442079460018"),
    ("0044 20 7946 0018", "GB", "+442079460018"),
    ("030 901820", "DE", "+4930901820"),
    ("+49 30 901820", "DE", "+4930901820"),
    ("01 23 45 67 89", "FR", "+33123456789"),
    ("+33 1 23 45 67 89", "FR", "+33123456789"),
    ("+44 20 7946 0018", "US", "+442079460018"),  # a country code wins over the country
]

# (as written, the event's country, normalized)
STATE_CASES = [
    ("New York", "US", "ny"),
    ("new york", None, "ny"),
    ("NY", "US", "ny"),
    ("New Hampshire", "US", "nh"),
    ("North Carolina", "US", "nc"),
    ("District of Columbia", "US", "dc"),
    ("California", "US", "ca"),
    (" ca ", "US", "ca"),
    ("Texas", "US", "tx"),
    ("BY", "DE", "by"),
]


def _case_id(case: tuple[Any, ...]) -> str:
    return f"{case[0]}|{case[1]}"


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("case", PHONE_CASES, ids=_case_id)
async def test_phone_is_read_in_the_event_country(
    platform: str, case: tuple[str, str | None, str]
) -> None:
    raw, country, e164 = case
    expected = e164 if PLATFORMS[platform].phone_has_plus else e164.lstrip("+")
    payload: dict[str, Any] = {"phone": raw} | ({"country": country} if country else {})
    user_data = PLATFORMS[platform].prepare(**payload)
    hashed = user_data[PHONE_KEYS[platform]]
    assert (hashed if isinstance(hashed, str) else hashed[0]) == sha(expected)


@pytest.mark.parametrize("platform", STATE_PLATFORMS)
@pytest.mark.parametrize("case", STATE_CASES, ids=_case_id)
async def test_state_is_normalized_by_name_to_its_code(
    platform: str, case: tuple[str, str | None, str]
) -> None:
    raw, country, expected = case
    payload: dict[str, Any] = {"state": raw} | ({"country": country} if country else {})
    assert PLATFORMS[platform].prepare(**payload)["st"] == [sha(expected)]


@pytest.mark.parametrize("platform", ["meta", "snapchat"])
async def test_state_outside_the_us_keeps_its_letters(platform: str) -> None:
    user_data = PLATFORMS[platform].prepare(state="Bayern", country="DE")
    assert user_data["st"] == [sha("bayern")]


async def test_ga4_region_is_sent_in_clear() -> None:
    address = GA4.prepare(state="New York", country="US")["address"][0]
    assert address["region"] == "new york"


# Each platform's documented normalization example: (platform, payload, key, expected).
DOCUMENTED_EXAMPLES = [
    # Meta customer information parameters: em trimmed and lowercased; ph digits with the
    # country code and no "+"; st 2-letter lowercase; zp 5 digits (US); country lowercase.
    ("meta", {"email": " John_Smith@gmail.com "}, "em", ["john_smith@gmail.com"]),
    ("meta", {"phone": "+1 (616) 954-7888"}, "ph", ["16169547888"]),
    ("meta", {"zip": "37221-3312", "country": "US"}, "zp", ["37221"]),
    ("meta", {"country": "United States"}, "country", ["us"]),
    ("meta", {"first_name": "Mary-Ann"}, "fn", ["maryann"]),
    # Snapchat: email trimmed and lowercased; phone with the country code, no "+" / "00".
    ("snapchat", {"email": " Jane.Doe@Example.com "}, "em", ["jane.doe@example.com"]),
    ("snapchat", {"phone": "0044 7700 900123", "country": "GB"}, "ph", ["447700900123"]),
    # Pinterest: lowercase email; ph digits incl. country code; st two-letter lowercase.
    ("pinterest", {"email": "Jane.Doe@Example.com"}, "em", ["jane.doe@example.com"]),
    ("pinterest", {"country": "US"}, "country", ["us"]),
    # TikTok: phone E.164 with "+" (e.g. +12133734253); email trimmed, lowercased.
    ("tiktok", {"phone": "(213) 373-4253", "country": "US"}, "phone", "+12133734253"),
    ("tiktok", {"email": " Jane.Doe@Example.com "}, "email", "jane.doe@example.com"),
    # GA4 user-provided data: gmail.com dots before "@" removed, "+tag" kept.
    ("ga4", {"email": "Jane.Doe+x@GMail.com"}, "sha256_email_address", ["janedoe+x@gmail.com"]),
]


@pytest.mark.parametrize("case", DOCUMENTED_EXAMPLES, ids=lambda case: f"{case[0]}-{case[2]}")
async def test_documented_examples(case: tuple[str, dict[str, Any], str, Any]) -> None:
    platform, payload, key, normalized = case
    expected = sha(normalized) if isinstance(normalized, str) else [sha(v) for v in normalized]
    assert PLATFORMS[platform].prepare(**payload)[key] == expected
