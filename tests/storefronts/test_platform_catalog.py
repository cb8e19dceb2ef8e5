"""The ad_analytics_platforms master data: shape and uniqueness. (Credentials are
validated by the admin API against the stored master data: tests/storefronts/test_admin.py.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml

from omnirelay.storefronts.platform_catalog import (
    CATALOG_FILE,
    PLATFORMS,
    AuthType,
    Category,
    PlatformSpec,
    load_platforms,
)

CODE_RE = re.compile(r"^[a-z][a-z0-9_]*$")
ALL_CODES = [spec["platform_code"] for spec in PLATFORMS]
BY_CODE = {spec["platform_code"]: spec for spec in PLATFORMS}


def fields_of(code: str) -> dict[str, tuple[bool, bool]]:
    """name -> (secret, required) for one platform."""
    spec = BY_CODE[code]
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
    assert "base_url" not in names, "every platform takes base_url: the admin API adds it"
    for field in spec["credential_fields"]:
        assert set(field) - {"kind"} == {"name", "label", "secret", "required"}
        assert field.get("kind", "url") in ("url", "host")
        assert CODE_RE.match(field["name"]), field["name"]
        assert field["label"].strip()
        assert isinstance(field["secret"], bool) and isinstance(field["required"], bool)
        if field["name"].endswith("secret") or field["name"] in ("access_token", "api_key"):
            assert field["secret"], f"{spec['platform_code']}.{field['name']} must be masked"


# Every field that says where requests go, with its kind: the admin API checks these as
# destinations (tests/storefronts/test_destinations.py).
DESTINATION_FIELDS = {
    ("matomo", "url"): "url",
    ("snowplow", "collector_url"): "url",
    ("rudderstack", "data_plane_url"): "url",
    ("braze", "rest_endpoint"): "url",
    ("everflow", "tracking_domain"): "host",
    ("webhook", "url"): "url",
}
# Fields whose names look like places but are not where requests go: Plausible's site
# domain is data in the event, Salesforce's subdomain is one label of a fixed domain.
NOT_DESTINATIONS = {("plausible", "domain"), ("salesforce_marketing_cloud", "subdomain")}


def test_fields_that_say_where_requests_go_are_marked_with_their_kind() -> None:
    marked = {
        (spec["platform_code"], f["name"]): f["kind"]
        for spec in PLATFORMS
        for f in spec["credential_fields"]
        if "kind" in f
    }
    assert marked == DESTINATION_FIELDS
    places = {"url", "uri", "endpoint", "domain", "host", "hostname", "collector", "subdomain"}
    looks_like_a_place = {
        (spec["platform_code"], f["name"])
        for spec in PLATFORMS
        for f in spec["credential_fields"]
        if places & set(re.split(r"[^a-z]+", f"{f['name']} {f['label']}".lower()))
    }
    assert looks_like_a_place - NOT_DESTINATIONS == set(DESTINATION_FIELDS)


def test_with_auth_at_least_one_field_is_secret_or_the_request_is_signed() -> None:
    for spec in PLATFORMS:
        if spec["auth_type"] in ("none", "hmac"):
            continue
        assert any(f["secret"] for f in spec["credential_fields"]), spec["platform_code"]


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
    spec = BY_CODE["webhook"]
    assert spec["name"] == "Generic webhook"
    assert spec["auth_type"] == "hmac"


@pytest.mark.parametrize(
    "code",
    ["google_ads", "microsoft_ads", "linkedin", "reddit", "x", "amazon_ads", "mixpanel"],
)
def test_major_platforms_are_present(code: str) -> None:
    assert code in BY_CODE


def test_categories_are_all_represented() -> None:
    assert {spec["category"] for spec in PLATFORMS} == set(get_args(Category))


def test_the_catalog_is_read_from_its_data_file() -> None:
    assert load_platforms(CATALOG_FILE) == PLATFORMS


def _second_row_changed(drop: str | None = None, **changes: Any) -> list[dict[str, Any]]:
    rows = [dict(spec) for spec in PLATFORMS[:2]]
    rows[1] = {k: v for k, v in rows[1].items() if k != drop} | changes
    return rows


@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        (_second_row_changed(drop="docs_url"), "1.docs_url"),
        (_second_row_changed(notes="an unknown key"), "1.notes"),
        (_second_row_changed(category="television"), "1.category"),
        (
            _second_row_changed(credential_fields=[{"name": "a", "label": "A"}]),
            "1.credential_fields.0.secret",
        ),
        (
            _second_row_changed(
                credential_fields=[{"name": "a", "label": "A", "secret": "no", "required": True}]
            ),
            "1.credential_fields.0.secret",
        ),
        (_second_row_changed(platform_code=PLATFORMS[0]["platform_code"]), "listed twice"),
        ({"meta": {}}, "tuple"),
    ],
)
def test_a_catalog_row_that_is_not_exactly_a_platform_spec_is_refused(
    tmp_path: Path, rows: Any, problem: str
) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(rows), encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(problem)):
        load_platforms(path)
