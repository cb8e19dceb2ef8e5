"""Master data for the ``ad_analytics_platforms`` table.

The rows are data, in ``platform_catalog.yaml`` beside this module (the note above each row
says what its API is and how it authenticates); this module types them and checks them when
it loads them, once, on first import.

Every entry is a real platform with a server-side, conversion, offline-event, measurement or
upload API. ``credential_fields`` lists the keys a storefront's credentials JSON holds for that
platform (``secret`` fields are masked in API responses; ``kind`` marks a field that says where
requests go, a ``url`` or a ``host``, which the admin API checks is a public destination).
Every platform also accepts an optional, non-secret ``base_url`` (an override for proxies and
the sandbox, of kind ``url``), which the admin API adds to every platform's fields; it is not
repeated per platform.

Auth types and credential names were checked against the vendors' documentation (or, where
the vendor's own pages were not at hand, against documented partner integrations such as
Tealium, RudderStack, Segment, PostHog and Adobe event-forwarding connectors) for at least:
Meta, GA4, TikTok, Snapchat, Pinterest, Google Ads, Microsoft Advertising, LinkedIn, Reddit,
X, Amazon Ads, Mixpanel, Amplitude, Segment, Braze, Klaviyo, AppsFlyer, Adjust, Branch,
Customer.io, Iterable, Attentive, Impact, Awin, Rakuten, AppLovin, Nextdoor, Roku, Spotify,
LINE, Yahoo! JAPAN, Yahoo DSP, The Trade Desk, Taboola, StackAdapt, Heap, PostHog, mParticle,
Adobe Analytics, Yandex Metrica, Baidu and Kochava. Notes on the remaining entries say what
is less certain.

``auth_type`` describes how a request authenticates:

* ``access_token``: a platform-issued token sent as a query parameter or a vendor header
* ``api_key`` / ``api_secret``: a static key (or secret) in a header, query or body
* ``bearer``: ``Authorization: Bearer <token>`` with a long-lived token
* ``oauth2``: short-lived access tokens minted from client credentials / a refresh token
* ``basic``: HTTP Basic auth
* ``hmac``: the request is signed (OAuth 1.0a HMAC-SHA1 for X, HMAC-SHA256 for webhooks)
* ``none``: no credential; the account is identified by ids in the request
"""

from __future__ import annotations

from pathlib import Path
from typing import (
    Literal,
    NotRequired,  # pydantic needs this one on Python 3.11
)

import yaml
from pydantic import ConfigDict, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

AuthType = Literal[
    "access_token", "api_key", "api_secret", "oauth2", "basic", "bearer", "hmac", "none"
]
Category = Literal[
    "ads", "analytics", "affiliate", "mobile_attribution", "cdp", "messaging", "other"
]

# A row must have every key, no other, and values of exactly these types: a typo in the
# data file fails loudly instead of seeding a platform without, say, its secret flag.
_EXACT = ConfigDict(extra="forbid", strict=True)

# A field whose value says where requests go: a URL, or a host name (no scheme, port or path).
FieldKind = Literal["url", "host"]


@with_config(_EXACT)
class CredentialField(TypedDict):
    name: str  # key in the credentials JSON, e.g. "pixel_id", "access_token"
    label: str
    secret: bool  # masked in API responses
    required: bool
    kind: NotRequired[FieldKind]  # only on destination fields


@with_config(_EXACT)
class PlatformSpec(TypedDict):
    platform_code: str  # lowercase snake, unique, e.g. "meta", "ga4", "tiktok"
    name: str
    category: Category
    auth_type: AuthType
    credential_fields: list[CredentialField]
    docs_url: str


CATALOG_FILE = Path(__file__).with_name("platform_catalog.yaml")
_ROWS = TypeAdapter(tuple[PlatformSpec, ...])


def load_platforms(path: Path = CATALOG_FILE) -> tuple[PlatformSpec, ...]:
    """The catalog's rows, checked: shape and types (``PlatformSpec``), unique codes."""
    try:
        platforms = _ROWS.validate_python(yaml.safe_load(path.read_text(encoding="utf-8")))
    except ValidationError as exc:
        raise ValueError(f"{path.name}: {exc}") from None
    codes = [spec["platform_code"] for spec in platforms]
    duplicates = sorted({code for code in codes if codes.count(code) > 1})
    if duplicates:
        raise ValueError(f"{path.name}: platform_code listed twice: {', '.join(duplicates)}")
    return platforms


PLATFORMS: tuple[PlatformSpec, ...] = load_platforms()


def shipped_secrets(platform_code: str) -> dict[str, bool] | None:
    """Whether each credential field of a platform the product ships is secret (None for
    a platform an operator added): fixed, whatever the master data says."""
    return _SECRET_FLAGS.get(platform_code)


_SECRET_FLAGS = {
    spec["platform_code"]: {f["name"]: f["secret"] for f in spec["credential_fields"]}
    for spec in PLATFORMS
}
