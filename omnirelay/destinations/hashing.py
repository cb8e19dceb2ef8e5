"""Customer data normalization and SHA-256 hashing shared by the destinations.

Each platform documents its own normalization; the pieces they share live here and each
destination module composes them (e.g. Meta wants phone digits without ``+``, Snapchat and
GA4 differ on Gmail dots). A value that is already a 64-hex SHA-256 is passed through.
A value that cannot be normalized raises ``NormalizationError`` so the caller can drop that
field from that event and record a warning.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import unicodedata
from collections.abc import Callable, Mapping
from functools import lru_cache, partial
from typing import Any

import phonenumbers

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
# North American numbers written in full international form (the bulk of US traffic).
_NANP_E164_RE = re.compile(r"^\+1[2-9]\d{2}[2-9]\d{6}$")
_PHONE_PUNCTUATION_RE = re.compile(r"[\s().\-]")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NON_LETTERS_RE = re.compile(r"[\s\W\d_]+")


class NormalizationError(ValueError):
    """A customer-data value that cannot be normalized (the field is dropped, not sent raw)."""


def is_sha256_hex(value: str) -> bool:
    text = value.strip()
    return len(text) == 64 and bool(_SHA256_RE.match(text.lower()))


def sha256_hex(normalized: str) -> str:
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()


def hash_normalized(value: Any, normalize: Callable[[str], str]) -> str:
    """Normalize then hash; a value that already is a SHA-256 hex digest is kept as is.

    Results are cached per (value, normalizer), so pass the same normalizer object each
    time: a module function, or one of the ``*_in(...)`` factories below, never a lambda.
    """
    text = value if value.__class__ is str else str(value)
    return hash_stripped(text.strip(), normalize)


@lru_cache(maxsize=65_536)
def hash_stripped(text: str, normalize: Callable[[str], str]) -> str:
    """``hash_normalized`` of a string already stripped (as ``identities`` gives them)."""
    # Cities, states, countries, names and repeat customers recur across a backlog: the
    # normalization (phone parsing above all) is worth doing once per distinct value.
    if is_sha256_hex(text):
        return text.lower()
    return sha256_hex(normalize(text))


def normalize_email(value: str, *, strip_gmail_dots: bool = False) -> str:
    email = value.strip().lower()
    if not _EMAIL_RE.match(email):
        raise NormalizationError("email is not a valid address")
    if strip_gmail_dots:
        local, _, domain = email.partition("@")
        if domain in ("gmail.com", "googlemail.com"):
            local = local.split("+", 1)[0].replace(".", "")
            email = f"{local}@{domain}"
    return email


@lru_cache(maxsize=65_536)  # parsing is the costliest normalization; customers recur
def normalize_phone_e164(value: str, *, default_region: str | None = "US") -> str:
    """E.164 with the leading ``+`` (e.g. ``+16505551234``)."""
    raw = value.strip()
    if not raw:
        raise NormalizationError("phone is empty")
    nanp = _NANP_E164_RE.match(_PHONE_PUNCTUATION_RE.sub("", raw))
    if nanp:  # +1 NXX NXX XXXX: already valid E.164, no parsing needed
        return nanp.group(0)
    try:
        number = phonenumbers.parse(raw, None if raw.startswith("+") else default_region)
    except phonenumbers.NumberParseException as exc:
        raise NormalizationError(f"phone cannot be parsed: {exc}") from None
    if not phonenumbers.is_possible_number(number):
        raise NormalizationError("phone is not a possible number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_phone_digits(value: str, *, default_region: str | None = "US") -> str:
    """E.164 digits without the ``+`` (Meta's and Snapchat's documented form)."""
    return normalize_phone_e164(value, default_region=default_region).lstrip("+")


@lru_cache(maxsize=512)
def phone_e164_in(region: str | None) -> Callable[[str], str]:
    """The E.164 normalizer for numbers written without a country code in ``region``."""
    return partial(normalize_phone_e164, default_region=region)


@lru_cache(maxsize=512)
def phone_digits_in(region: str | None) -> Callable[[str], str]:
    return partial(normalize_phone_digits, default_region=region)


@lru_cache(maxsize=512)
def state_in(country: str | None) -> Callable[[str], str]:
    return partial(normalize_state, country=country)


@lru_cache(maxsize=512)
def zip_in(country: str | None) -> Callable[[str], str]:
    return partial(normalize_zip, country=country)


def normalize_name(value: str) -> str:
    """Lowercase letters only, no punctuation or spaces (UTF-8 kept)."""
    text = _NON_LETTERS_RE.sub("", unicodedata.normalize("NFC", value.strip().lower()))
    if not text:
        raise NormalizationError("name has no letters")
    return text


def normalize_city(value: str) -> str:
    text = _NON_LETTERS_RE.sub("", value.strip().lower())
    if not text:
        raise NormalizationError("city has no letters")
    return text


US_STATE_CODES: Mapping[str, str] = dict(
    re.findall(
        r"(\w+):(\w\w)",
        "alabama:al alaska:ak arizona:az arkansas:ar california:ca colorado:co connecticut:ct "
        "delaware:de districtofcolumbia:dc florida:fl georgia:ga hawaii:hi idaho:id illinois:il "
        "indiana:in iowa:ia kansas:ks kentucky:ky louisiana:la maine:me maryland:md "
        "massachusetts:ma michigan:mi minnesota:mn mississippi:ms missouri:mo montana:mt "
        "nebraska:ne nevada:nv newhampshire:nh newjersey:nj newmexico:nm newyork:ny "
        "northcarolina:nc northdakota:nd ohio:oh oklahoma:ok oregon:or pennsylvania:pa "
        "puertorico:pr rhodeisland:ri southcarolina:sc southdakota:sd tennessee:tn texas:tx "
        "utah:ut vermont:vt virginia:va washington:wa westvirginia:wv wisconsin:wi wyoming:wy",
    )
)


def normalize_state(value: str, *, country: str | None = None) -> str:
    """US (or no country): the 2-letter code, full names mapped by name ("New York" is "ny",
    not "ne"); elsewhere lowercase letters only."""
    text = re.sub(r"[^a-z]", "", value.strip().lower())
    if not text:
        raise NormalizationError("state has no letters")
    if (country or "us").lower() == "us" and len(text) != 2:
        if text not in US_STATE_CODES:
            raise NormalizationError("state is not a US state name or 2-letter code")
        return US_STATE_CODES[text]
    return text


def normalize_zip(value: str, *, country: str | None = None) -> str:
    text = re.sub(r"[\s-]+", "", value.strip().lower())
    if (country or "us").lower() == "us":
        text = text[:5]
    if not text:
        raise NormalizationError("zip is empty")
    return text


def normalize_country(value: str) -> str:
    text = re.sub(r"[^a-z]", "", value.strip().lower())
    if len(text) != 2:
        raise NormalizationError("country must be an ISO 3166-1 alpha-2 code")
    return text


def normalize_external_id(value: str) -> str:
    text = value.strip()
    if not text:
        raise NormalizationError("external id is empty")
    return text.lower()


_IPV4_RE = re.compile(
    r"^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$"
)


def normalize_ip(value: str) -> str | None:
    """The address in canonical form (IPv6 compressed), or None when it is not one."""
    if _IPV4_RE.match(value):  # already canonical: the common case needs no parsing
        return value
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


# Aliases under which the OMS may send customer data in the event payload.
IDENTITY_ALIASES: Mapping[str, tuple[str, ...]] = {
    "email": ("email", "email_address", "customer_email", "em"),
    "phone": ("phone", "phone_number", "customer_phone", "ph"),
    "external_id": ("external_id", "customer_id", "user_id"),
    "first_name": ("first_name", "fn"),
    "last_name": ("last_name", "ln"),
    "city": ("city", "ct"),
    "state": ("state", "st", "region"),
    "zip": ("zip", "zip_code", "postal_code", "zp"),
    "country": ("country", "country_code"),
    "client_ip": ("client_ip", "client_ip_address", "ip_address", "ip"),
    "user_agent": ("user_agent", "client_user_agent"),
    "fbp": ("fbp", "_fbp"),
    "fbc": ("fbc", "_fbc"),
    "fbclid": ("fbclid",),
    "ttclid": ("ttclid",),
    "ttp": ("ttp", "_ttp"),
    "gclid": ("gclid",),
    "sc_click_id": ("sc_click_id", "ScCid", "sccid"),
    "sc_cookie1": ("sc_cookie1", "_scid"),
    "epik": ("epik",),
    "page_url": ("page_url", "event_source_url", "url"),
}


# alias -> (canonical field, rank): the earlier an alias is listed, the more it counts
_ALIAS_FIELDS: Mapping[str, tuple[str, int]] = {
    alias: (field, rank)
    for field, aliases in IDENTITY_ALIASES.items()
    for rank, alias in enumerate(aliases)
}


def identities(payload: Mapping[str, Any]) -> dict[str, str]:
    """Every canonical identity field the payload carries, each from its first non-empty
    alias, as a stripped string: one pass over the aliases present (a set intersection in
    C) instead of one lookup per alias and field, for the dozen fields read per event."""
    found: dict[str, str] = {}
    ranks: dict[str, int] = {}
    for key in payload.keys() & _ALIAS_FIELDS.keys():
        value = payload[key]
        if value is None:
            continue
        field, rank = _ALIAS_FIELDS[key]
        if field in found and ranks[field] < rank:
            continue
        text = (value if value.__class__ is str else str(value)).strip()
        if text:
            found[field] = text
            ranks[field] = rank
    return found


def identity_value(payload: Mapping[str, Any], field: str) -> str | None:
    """The first non-empty value for a canonical identity field, as a string."""
    for key in IDENTITY_ALIASES.get(field, (field,)):
        value = payload.get(key)
        if value is not None:
            text = (value if value.__class__ is str else str(value)).strip()
            if text:
                return text
    return None
