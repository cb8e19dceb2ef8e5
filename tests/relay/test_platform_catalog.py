"""The ad_analytics_platforms master data: shape, uniqueness and credential validation."""

from __future__ import annotations

import re
from typing import Any, get_args

import pytest

from omnirelay.relay.platform_catalog import (
    COMMON_OPTIONAL_FIELDS,
    PLATFORMS,
    AuthType,
    Category,
    PlatformSpec,
    platform_by_code,
    validate_credentials,
)

CODE_RE = re.compile(r"^[a-z][a-z0-9_]*$")
ALL_CODES = [spec["platform_code"] for spec in PLATFORMS]


def fields_of(code: str) -> dict[str, tuple[bool, bool]]:
    """name -> (secret, required) for one platform."""
    spec = platform_by_code(code)
    assert spec is not None, code
    return {f["name"]: (f["secret"], f["required"]) for f in spec["credential_fields"]}


def test_catalog_has_at_least_53_platforms() -> None:
    assert len(PLATFORMS) >= 53


def test_platform_codes_are_unique() -> None:
    duplicates = {code for code in ALL_CODES if ALL_CODES.count(code) > 1}
    assert not duplicates


@pytest.mark.parametrize("spec", PLATFORMS, ids=ALL_CODES)
def test_spec_shape(spec: PlatformSpec) -> None:
    assert CODE_RE.match(spec["platform_code"])
    assert len(spec["platform_code"]) <= 50  # platform_code String(50)
    assert spec["name"].strip() and len(spec["name"]) <= 255
    assert spec["category"] in get_args(Category)
    assert spec["auth_type"] in get_args(AuthType)
    assert spec["docs_url"].startswith("https://") and len(spec["docs_url"]) <= 500
    if spec["auth_type"] != "none":
        assert spec["credential_fields"], "a platform with auth needs a credential field"


@pytest.mark.parametrize("spec", PLATFORMS, ids=ALL_CODES)
def test_credential_fields_are_well_formed(spec: PlatformSpec) -> None:
    names = [f["name"] for f in spec["credential_fields"]]
    assert len(names) == len(set(names)), "duplicate credential field"
    assert "base_url" not in names, "base_url lives in COMMON_OPTIONAL_FIELDS"
    for field in spec["credential_fields"]:
        assert set(field) == {"name", "label", "secret", "required"}
        assert CODE_RE.match(field["name"]), field["name"]
        assert field["label"].strip()
        assert isinstance(field["secret"], bool) and isinstance(field["required"], bool)
        if field["name"].endswith("secret") or field["name"] in ("access_token", "api_key"):
            assert field["secret"], f"{spec['platform_code']}.{field['name']} must be masked"


def test_with_auth_at_least_one_field_is_secret_or_the_request_is_signed() -> None:
    for spec in PLATFORMS:
        if spec["auth_type"] in ("none", "hmac"):
            continue
        assert any(f["secret"] for f in spec["credential_fields"]), spec["platform_code"]


def test_common_optional_fields_hold_base_url() -> None:
    assert [f["name"] for f in COMMON_OPTIONAL_FIELDS] == ["base_url"]
    assert all(not f["required"] and not f["secret"] for f in COMMON_OPTIONAL_FIELDS)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (
            "meta",
            {
                "pixel_id": (False, True),
                "access_token": (True, True),
                "test_event_code": (False, False),
            },
        ),
        ("ga4", {"measurement_id": (False, True), "api_secret": (True, True)}),
        (
            "tiktok",
            {
                "pixel_code": (False, True),
                "access_token": (True, True),
                "test_event_code": (False, False),
            },
        ),
        ("snapchat", {"pixel_id": (False, True), "access_token": (True, True)}),
        ("pinterest", {"ad_account_id": (False, True), "access_token": (True, True)}),
        ("webhook", {"url": (False, True), "secret": (True, False), "headers": (True, False)}),
    ],
)
def test_platforms_with_dedicated_modules(code: str, expected: dict[str, Any]) -> None:
    assert fields_of(code) == expected


def test_webhook_spec() -> None:
    spec = platform_by_code("webhook")
    assert spec is not None
    assert spec["name"] == "Generic webhook"
    assert spec["auth_type"] == "hmac"


@pytest.mark.parametrize(
    "code",
    ["google_ads", "microsoft_ads", "linkedin", "reddit", "x", "amazon_ads", "mixpanel"],
)
def test_major_platforms_are_present(code: str) -> None:
    assert platform_by_code(code) is not None


def test_categories_are_all_represented() -> None:
    assert {spec["category"] for spec in PLATFORMS} == set(get_args(Category))


def test_platform_by_code() -> None:
    meta = platform_by_code("meta")
    assert meta is not None and meta["name"] == "Meta Conversions API"
    assert platform_by_code(" GA4 ") is platform_by_code("ga4")
    assert platform_by_code("myspace") is None
    assert platform_by_code("") is None


# ------------------------------------------------------------- validate_credentials


def test_valid_credentials_have_no_errors() -> None:
    assert validate_credentials("meta", {"pixel_id": "123", "access_token": "EAAB"}) == []


def test_optional_fields_and_base_url_are_accepted() -> None:
    creds = {
        "pixel_id": "123",
        "access_token": "EAAB",
        "test_event_code": "TEST123",
        "base_url": "http://127.0.0.1:8090/meta",
    }
    assert validate_credentials("meta", creds) == []


def test_missing_required_field_is_named() -> None:
    assert validate_credentials("meta", {"pixel_id": "123"}) == ["access_token: required"]


def test_every_missing_field_is_reported() -> None:
    assert validate_credentials("ga4", {}) == ["measurement_id: required", "api_secret: required"]


@pytest.mark.parametrize("blank", [None, "", "   "])
def test_blank_values_count_as_missing(blank: Any) -> None:
    errors = validate_credentials("snapchat", {"pixel_id": "p", "access_token": blank})
    assert errors == ["access_token: required"]


def test_unknown_fields_are_named() -> None:
    errors = validate_credentials(
        "pinterest", {"ad_account_id": "549", "access_token": "pina_x", "pixel": "1", "a": 2}
    )
    assert errors == ["a: unknown field", "pixel: unknown field"]


def test_missing_and_unknown_together() -> None:
    errors = validate_credentials("tiktok", {"pixel_id": "C123", "access_token": "t"})
    assert errors == ["pixel_code: required", "pixel_id: unknown field"]


def test_numeric_ids_are_accepted_but_objects_are_not() -> None:
    assert validate_credentials("ga4", {"measurement_id": "G-1", "api_secret": "s"}) == []
    assert validate_credentials("snapchat", {"pixel_id": 12345, "access_token": "t"}) == []
    errors = validate_credentials("snapchat", {"pixel_id": {"id": 1}, "access_token": True})
    assert errors == ["pixel_id: must be a string", "access_token: must be a string"]


def test_base_url_must_be_a_string() -> None:
    errors = validate_credentials(
        "ga4", {"measurement_id": "G-1", "api_secret": "s", "base_url": 1}
    )
    assert errors == ["base_url: must be a string"]


def test_unknown_platform() -> None:
    errors = validate_credentials("myspace", {"token": "x"})
    assert len(errors) == 1 and "unknown platform" in errors[0] and "myspace" in errors[0]


def test_code_lookup_in_validation_is_case_insensitive() -> None:
    assert validate_credentials("META", {"pixel_id": "1", "access_token": "t"}) == []


def test_credentials_must_be_an_object() -> None:
    assert validate_credentials("meta", ["pixel_id"]) == ["credentials: must be a JSON object"]  # type: ignore[arg-type]


def test_webhook_credentials() -> None:
    assert validate_credentials("webhook", {"url": "https://hooks.example.com/in"}) == []
    full = {
        "url": "https://hooks.example.com/in",
        "secret": "whsec_1",
        "headers": {"Authorization": "Bearer abc"},
    }
    assert validate_credentials("webhook", full) == []
    assert validate_credentials("webhook", {"secret": "s"}) == ["url: required"]
    bad = validate_credentials("webhook", {"url": "https://h", "headers": ["Authorization"]})
    assert bad == ["headers: must be an object of header names to values"]
    bad_value = validate_credentials("webhook", {"url": "https://h", "headers": {"X-N": 1}})
    assert bad_value == ["headers: header names and values must be strings"]


def test_platform_without_credentials_accepts_empty_object() -> None:
    spec = platform_by_code("outbrain")
    assert spec is not None and spec["auth_type"] == "none"
    assert validate_credentials("outbrain", {}) == []
    assert validate_credentials("outbrain", {"base_url": "http://127.0.0.1:8090/outbrain"}) == []
