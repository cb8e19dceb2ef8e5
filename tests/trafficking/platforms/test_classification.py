"""Each client's reading of every class of answer, from answers shaped as the platforms
document them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from omnirelay.destinations.base import HttpResult
from omnirelay.trafficking.platforms import client_for
from omnirelay.trafficking.platforms.base import PlatformCredentials, Step, StepOutcome, Verdict
from tests.trafficking.platforms.conftest import (
    DEV_TOKEN,
    PLATFORMS,
    TOKEN,
    creds_for,
    draft_for,
)

# a create's documented success answer, per platform
CREATED = {
    "META": {"id": "120210000000001"},
    "TIKTOK": {"code": 0, "message": "OK", "request_id": "2026", "data": {"campaign_id": "177"}},
    "SNAPCHAT": {
        "request_status": "SUCCESS",
        "campaigns": [{"sub_request_status": "SUCCESS", "campaign": {"id": "c-uuid"}}],
    },
    "PINTEREST": {"items": [{"data": {"id": "626712345678"}, "exceptions": []}]},
    "GOOGLE_ADS": {"results": [{"resourceName": "customers/1234567890/campaigns/9876"}]},
}
CREATED_ID = {"META": "120210000000001", "TIKTOK": "177", "SNAPCHAT": "c-uuid"}
CREATED_ID |= {"PINTEREST": "626712345678", "GOOGLE_ADS": "9876"}


def answer(status: int | None, body: Any = "", headers: dict[str, str] | None = None) -> HttpResult:
    text = body if isinstance(body, str) else json.dumps(body)
    if status is None:
        return HttpResult(None, error="network: ConnectError: refused")
    return HttpResult(status, headers or {}, text)


def first_step(
    platform: str, retried: bool = False, outcomes: list[StepOutcome] | None = None
) -> Step:
    outcomes = outcomes or []
    if platform == "GOOGLE_ADS" and not retried:  # the campaign step follows its budget
        outcomes = [
            StepOutcome(
                "budget", Verdict.CONTINUE, data={"budget": "customers/1/campaignBudgets/2"}
            )
        ]
    step = client_for(platform).next_step(
        draft_for(platform), creds_for(platform), outcomes, retried
    )
    assert isinstance(step, Step)
    return step


@pytest.mark.parametrize("platform", PLATFORMS)
def test_created(platform: str) -> None:
    step = first_step(platform)
    outcome = client_for(platform).classify(step, answer(200, CREATED[platform]))
    assert (outcome.verdict, outcome.platform_id) == (Verdict.CREATED, CREATED_ID[platform])


@pytest.mark.parametrize("platform", PLATFORMS)
def test_429_waits_for_retry_after(platform: str) -> None:
    outcome = client_for(platform).classify(
        first_step(platform), answer(429, "slow down", {"Retry-After": "30"})
    )
    assert (outcome.verdict, outcome.retry_after) == (Verdict.THROTTLED, 30.0)


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("status", [500, 502, 503, None])
def test_5xx_and_network_back_off(platform: str, status: int | None) -> None:
    outcome = client_for(platform).classify(first_step(platform), answer(status, "down"))
    assert outcome.verdict == Verdict.BACKOFF


@pytest.mark.parametrize("platform", PLATFORMS)
def test_other_4xx_fail_with_the_seed_reason(platform: str) -> None:
    outcome = client_for(platform).classify(first_step(platform), answer(403, "forbidden"))
    assert (outcome.verdict, outcome.reason) == (Verdict.FAILED, "API Error 403: forbidden")


def meta_error(code: int, **extra: Any) -> dict[str, Any]:
    return {
        "error": {
            "message": "m",
            "type": "OAuthException",
            "code": code,
            "fbtrace_id": "x",
            **extra,
        }
    }


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80004, 80000, 80014])
def test_meta_throttles_come_as_400_codes(code: int) -> None:
    usage = {"1": [{"type": "ads_management", "estimated_time_to_regain_access": 5}]}
    headers = {"X-Business-Use-Case-Usage": json.dumps(usage)}
    outcome = client_for("META").classify(
        first_step("META"), answer(400, meta_error(code), headers)
    )
    assert (outcome.verdict, outcome.retry_after) == (Verdict.THROTTLED, 300.0)


def test_meta_transient_and_permanent_errors() -> None:
    meta = client_for("META")
    assert meta.classify(first_step("META"), answer(400, meta_error(2))).verdict == Verdict.BACKOFF
    transient = meta_error(100, is_transient=True)
    assert meta.classify(first_step("META"), answer(400, transient)).verdict == Verdict.BACKOFF
    invalid = meta.classify(first_step("META"), answer(400, meta_error(100)))
    assert invalid.verdict == Verdict.FAILED and invalid.reason.startswith("API Error 400: {")  # type: ignore[union-attr]
    token = meta.classify(first_step("META"), answer(400, meta_error(190)))
    assert token.verdict == Verdict.FAILED


@pytest.mark.parametrize(
    ("code", "verdict"),
    [
        (40100, Verdict.THROTTLED),
        (40700, Verdict.BACKOFF),
        (50002, Verdict.BACKOFF),
        (40001, Verdict.FAILED),
        (40002, Verdict.FAILED),
    ],
)
def test_tiktok_reads_the_code_of_a_200(code: int, verdict: Verdict) -> None:
    body = {"code": code, "message": "m", "request_id": "r", "data": {}}
    outcome = client_for("TIKTOK").classify(first_step("TIKTOK"), answer(200, body))
    assert outcome.verdict == verdict
    if verdict == Verdict.FAILED:
        assert outcome.reason == f"API Error 200: {json.dumps(body)}"


def test_body_level_refusals_fail() -> None:
    snap = {"request_status": "SUCCESS", "campaigns": [{"sub_request_status": "ERROR"}]}
    assert (
        client_for("SNAPCHAT").classify(first_step("SNAPCHAT"), answer(200, snap)).verdict
        == Verdict.FAILED
    )
    pin = {"items": [{"data": None, "exceptions": [{"code": 2646, "message": "bad"}]}]}
    assert (
        client_for("PINTEREST").classify(first_step("PINTEREST"), answer(200, pin)).verdict
        == Verdict.FAILED
    )


def google_error(category: str, reason: str, status: int = 400) -> dict[str, Any]:
    errors = [{"errorCode": {category: reason}, "message": "m"}]
    return {
        "error": {"code": status, "status": "INVALID_ARGUMENT", "details": [{"errors": errors}]}
    }


def test_google_ads_error_codes() -> None:
    google, step = client_for("GOOGLE_ADS"), first_step("GOOGLE_ADS")
    duplicate = google.classify(
        step, answer(400, google_error("campaignError", "DUPLICATE_CAMPAIGN_NAME"))
    )
    assert (duplicate.verdict, dict(duplicate.data)) == (Verdict.CONTINUE, {"duplicate": True})
    quota = google.classify(
        step, answer(400, google_error("quotaError", "RESOURCE_TEMPORARILY_EXHAUSTED"))
    )
    assert quota.verdict == Verdict.THROTTLED
    internal = google.classify(step, answer(400, google_error("internalError", "INTERNAL_ERROR")))
    assert internal.verdict == Verdict.BACKOFF
    assert (
        google.classify(step, answer(400, google_error("fieldError", "REQUIRED"))).verdict
        == Verdict.FAILED
    )


@pytest.mark.parametrize("platform", PLATFORMS)
def test_lookup_matches_names_exactly_and_pages(platform: str) -> None:
    client = client_for(platform)
    step = first_step(platform, retried=True)
    assert step.name == "lookup" and step.target_name == "DIS_US_META_2026_MoanaLaunch"
    near, exact = "DIS_US_META_2026_MoanaLaunch2", "DIS_US_META_2026_MoanaLaunch"
    pages = {
        "META": lambda name, more: (
            {"data": [{"id": "55", "name": name}]}
            | (
                {"paging": {"cursors": {"after": "c2"}, "next": "https://graph/next"}}
                if more
                else {}
            )
        ),
        "TIKTOK": lambda name, more: {
            "code": 0,
            "data": {
                "list": [{"campaign_id": "55", "campaign_name": name}],
                "page_info": {"page": 1, "total_page": 2 if more else 1},
            },
        },
        "SNAPCHAT": lambda name, more: {
            "request_status": "SUCCESS",
            "campaigns": [{"campaign": {"id": "55", "name": name, "status": "PAUSED"}}],
            "paging": {"next_link": "https://adsapi.snapchat.com/v1/x?cursor=c2&limit=1000"}
            if more
            else {},
        },
        "PINTEREST": lambda name, more: {
            "items": [{"id": "55", "name": name}],
            "bookmark": "c2" if more else None,
        },
        "GOOGLE_ADS": lambda name, more: {
            "results": [{"campaign": {"resourceName": "customers/1/campaigns/55", "name": name}}]
        },
    }
    miss = client.classify(step, answer(200, pages[platform](near, True)))
    assert miss.verdict == Verdict.CONTINUE
    if platform != "GOOGLE_ADS":
        assert miss.data["cursor"] == ("2" if platform == "TIKTOK" else "c2")
        following = client.next_step(draft_for(platform), creds_for(platform), [miss], True)
        assert isinstance(following, Step) and following.name == "lookup"
    hit = client.classify(step, answer(200, pages[platform](exact, False)))
    assert (hit.verdict, hit.platform_id) == (Verdict.EXISTS, "55")
    end = client.classify(step, answer(200, pages[platform](near, False)))
    after = client.next_step(draft_for(platform), creds_for(platform), [end], True)
    assert isinstance(after, Step) and after.name in ("create", "budget_lookup")


@pytest.mark.parametrize("platform", PLATFORMS)
def test_tokens_travel_in_headers_and_are_listed_as_secrets(platform: str) -> None:
    for retried in (False, True):
        request = first_step(platform, retried).request
        assert TOKEN not in request.url
        assert TOKEN in " ".join(request.headers.values())
        assert TOKEN in request.secrets
    if platform == "GOOGLE_ADS":
        assert request.headers["developer-token"] == DEV_TOKEN and DEV_TOKEN in request.secrets


@pytest.mark.parametrize("platform", PLATFORMS)
def test_invalid_drafts_and_credentials_are_refused_before_sending(platform: str) -> None:
    client = client_for(platform)
    bad = draft_for(platform).__class__(**{**draft_for(platform).__dict__, "currency": "usd"})
    done = client.next_step(bad, creds_for(platform), [])
    assert not isinstance(done, Step) and done.outcome.verdict == Verdict.FAILED
    assert "currency" in (done.outcome.reason or "")
    empty = PlatformCredentials(account_id="", access_token="")
    refused = client.next_step(draft_for(platform), empty, [])
    assert not isinstance(refused, Step) and "credentials" in (refused.outcome.reason or "")


def test_credentials_from_a_vault_entry() -> None:
    creds = PlatformCredentials.from_mapping(
        {"advertiser_id": 42, "access_token": "tok-secret", "base_url": "http://x/"}
    )
    assert (creds.account_id, creds.base("https://default")) == ("42", "http://x")
    assert "tok-secret" not in repr(creds)
