"""Every translator against the platform's documented example and its validation rules."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from omnirelay.trafficking.translators import all_translators, translator_for
from omnirelay.trafficking.translators.base import CampaignDraft, TranslationError
from omnirelay.trafficking.translators.google_ads import GoogleAdsCampaignTranslator
from omnirelay.trafficking.translators.meta import MetaCampaignTranslator
from omnirelay.trafficking.translators.pinterest import PinterestCampaignTranslator
from omnirelay.trafficking.translators.snapchat import SnapchatCampaignTranslator
from omnirelay.trafficking.translators.tiktok import TikTokCampaignTranslator, request_id_for


def draft(**changes: Any) -> CampaignDraft:
    base = CampaignDraft(
        ticket_id="t-1",
        campaign_id="c-1",
        campaign_name="DIS_US_META_2026_MoanaLaunch",
        budget=Decimal("50.00"),
        currency="USD",
        request_type="CREATE_CAMPAIGN",
        payload_config={},
    )
    return dataclasses.replace(base, **changes)


def fields(problems: list[Any]) -> list[str]:
    return [problem.field for problem in problems]


def test_registry_has_one_translator_per_platform() -> None:
    platforms = [t.platform for t in all_translators()]
    assert platforms == ["META", "TIKTOK", "SNAPCHAT", "PINTEREST", "GOOGLE_ADS"]
    assert isinstance(translator_for("meta"), MetaCampaignTranslator)
    assert isinstance(translator_for("Google Ads"), GoogleAdsCampaignTranslator)
    assert all(t.documentation.startswith("https://") for t in all_translators())
    with pytest.raises(KeyError, match="known: GOOGLE_ADS, META"):
        translator_for("myspace")


# ------------------------------------------------------------------------------- Meta
# facebook-nodejs-business-sdk examples/ad_account_campaigns_post.js, the example of
# https://developers.facebook.com/docs/marketing-api/reference/ad-account/campaigns/
META_EXAMPLE = {
    "name": "My campaign",
    "objective": "OUTCOME_TRAFFIC",
    "status": "PAUSED",
    "special_ad_categories": [],
}


def test_meta_matches_the_documented_example_with_budget_in_cents() -> None:
    body = MetaCampaignTranslator().build(
        draft(
            campaign_name="My campaign",
            budget=Decimal("20"),
            payload_config={"objective": "outcome_traffic", "special_ad_categories": []},
        )
    )
    # https://developers.facebook.com/docs/marketing-api/bidding/overview/budgets/:
    # "daily_budget=2000" is 20 dollars
    assert body == {**META_EXAMPLE, "daily_budget": 2000}


@pytest.mark.parametrize(("currency", "sent"), [("JPY", 5000), ("KRW", 5000), ("EUR", 500000)])
def test_meta_zero_decimal_currencies_have_no_offset(currency: str, sent: int) -> None:
    config = {"objective": "OUTCOME_SALES", "special_ad_categories": [], "min_budget": 1}
    body = MetaCampaignTranslator().build(
        draft(budget=Decimal(5000), currency=currency, payload_config=config)
    )
    assert body["daily_budget"] == sent


def test_meta_lists_every_problem() -> None:
    problems = MetaCampaignTranslator().validate(
        draft(
            budget=Decimal("0.50"),
            payload_config={"objective": "LINK_CLICKS", "status": "DELETED", "buying_type": "X"},
        )
    )
    assert fields(problems) == [
        "payload_config.objective",
        "payload_config.status",
        "payload_config.buying_type",
        "payload_config.special_ad_categories",
        "budget",
    ]
    assert "OUTCOME_TRAFFIC" in problems[0].reason
    assert "minimum of 1.00 USD" in problems[4].reason


def test_meta_special_ad_categories_must_be_present_and_known() -> None:
    translator = MetaCampaignTranslator()
    missing = translator.validate(draft(payload_config={"objective": "OUTCOME_LEADS"}))
    assert [str(p) for p in missing] == [
        "payload_config.special_ad_categories: required: a list, empty when no special "
        "category applies"
    ]
    config = {"objective": "OUTCOME_LEADS", "special_ad_categories": ["HOUSING", "PETS"]}
    assert "PETS" in translator.validate(draft(payload_config=config))[0].reason
    with pytest.raises(TranslationError) as raised:
        translator.build(draft(payload_config={"objective": "OUTCOME_LEADS"}))
    assert raised.value.problems == missing


def test_meta_yen_with_decimals_and_lifetime_rules() -> None:
    config = {"objective": "OUTCOME_SALES", "special_ad_categories": [], "min_budget": 100}
    yen = MetaCampaignTranslator().validate(
        draft(budget=Decimal("1000.5"), currency="JPY", payload_config=config)
    )
    assert [str(p) for p in yen] == ["budget: JPY budgets are in whole units"]
    lifetime = {
        "objective": "OUTCOME_SALES",
        "special_ad_categories": [],
        "budget_type": "lifetime",
    }
    no_end = MetaCampaignTranslator().validate(draft(payload_config=lifetime))
    assert fields(no_end) == ["end_date"]
    too_small = MetaCampaignTranslator().validate(
        draft(
            budget=Decimal(5),
            start_date=date(2026, 5, 1),
            end_date=date(2026, 5, 10),
            payload_config=lifetime,
        )
    )
    assert [str(p) for p in too_small] == [
        "budget: below the platform's lifetime minimum of 10.00 USD"
    ]
    body = MetaCampaignTranslator().build(
        draft(start_date=date(2026, 5, 1), end_date=date(2026, 5, 10), payload_config=lifetime)
    )
    assert body["lifetime_budget"] == 5000
    assert body["start_time"] == "2026-05-01T00:00:00Z"
    assert body["stop_time"] == "2026-05-10T23:59:59Z"


def test_dates_in_the_wrong_order_are_a_problem() -> None:
    config = {"objective": "OUTCOME_SALES", "special_ad_categories": []}
    problems = MetaCampaignTranslator().validate(
        draft(start_date=date(2026, 5, 2), end_date=date(2026, 5, 1), payload_config=config)
    )
    assert [str(p) for p in problems] == ["end_date: before start_date"]


# ----------------------------------------------------------------------------- TikTok
# The request model of https://business-api.tiktok.com/portal/docs?id=1739318962329602
# (tiktok-business-api-sdk CampaignCreateBody): advertiser_id, campaign_name,
# objective_type, budget_mode, budget in the currency's major units.
TIKTOK_EXAMPLE = {
    "advertiser_id": "6999999999999999999",
    "campaign_name": "DIS_US_TIKTOK_2026_MoanaLaunch",
    "objective_type": "TRAFFIC",
    "budget_mode": "BUDGET_MODE_DAY",
    "budget": 100.0,
}


def test_tiktok_matches_the_documented_fields_with_a_request_id() -> None:
    body = TikTokCampaignTranslator().build(
        draft(
            campaign_name="DIS_US_TIKTOK_2026_MoanaLaunch",
            budget=Decimal(100),
            account_id="6999999999999999999",
            payload_config={"objective_type": "TRAFFIC"},
        )
    )
    request_id = body.pop("request_id")
    assert body == TIKTOK_EXAMPLE
    # a 64-bit integer as a string, the same for every retry of the ticket
    assert request_id == request_id_for("t-1") and 0 < int(request_id) < 2**63
    assert request_id != request_id_for("t-2")


def test_tiktok_budget_modes_and_minimum() -> None:
    translator = TikTokCampaignTranslator()
    total = translator.build(
        draft(account_id="1", payload_config={"objective": "REACH", "budget_type": "LIFETIME"})
    )
    assert total["budget_mode"] == "BUDGET_MODE_TOTAL" and total["budget"] == 50.0
    infinite = translator.build(
        draft(
            budget=Decimal(1),
            account_id="1",
            payload_config={"objective": "REACH", "budget_mode": "BUDGET_MODE_INFINITE"},
        )
    )
    assert "budget" not in infinite
    problems = translator.validate(
        draft(budget=Decimal("49.99"), payload_config={"objective_type": "CONVERSIONS"})
    )
    assert str(problems[0]).startswith("payload_config.objective_type: 'CONVERSIONS'")
    assert str(problems[1]) == "budget: below the platform's daily minimum of 50 USD"
    with pytest.raises(TranslationError, match="advertiser_id is part of the body"):
        translator.build(draft(payload_config={"objective_type": "TRAFFIC"}))


# --------------------------------------------------------------------------- Snapchat
# https://developers.snap.com/api/marketing-api/Ads-API/campaigns (attributes) and the
# create example of api-evangelist/snapchat examples/snapchat-create-campaign-example.json;
# the objective is BRAND_AWARENESS, the value Snap's attribute table lists.
SNAPCHAT_EXAMPLE = {
    "campaigns": [
        {
            "name": "Spring 2026 Brand Awareness",
            "ad_account_id": "a1b2c3d4-e5f6-7890-abcd-ef1234567890",
            "status": "ACTIVE",
            "objective": "BRAND_AWARENESS",
            "start_time": "2026-05-01T00:00:00.000Z",
            "end_time": "2026-05-31T23:59:59.999Z",
            "daily_budget_micro": 50000000,
        }
    ]
}


def test_snapchat_matches_the_documented_example_in_micros() -> None:
    body = SnapchatCampaignTranslator().build(
        draft(
            campaign_name="Spring 2026 Brand Awareness",
            account_id="a1b2c3d4-e5f6-7890-abcd-ef1234567890",
            start_date=date(2026, 5, 1),
            end_date=date(2026, 5, 31),
            payload_config={"status": "ACTIVE", "objective": "BRAND_AWARENESS"},
        )
    )
    assert body == SNAPCHAT_EXAMPLE


def test_snapchat_requires_a_start_and_its_minimum() -> None:
    problems = SnapchatCampaignTranslator().validate(
        draft(budget=Decimal(19), payload_config={"objective": "AWARENESS", "status": "ON"})
    )
    assert fields(problems) == [
        "payload_config.status",
        "payload_config.objective",
        "start_date",
        "budget",
    ]
    lifetime = SnapchatCampaignTranslator().build(
        draft(
            account_id="a", start_date=date(2026, 5, 1), payload_config={"budget_type": "LIFETIME"}
        )
    )
    assert lifetime["campaigns"][0]["lifetime_spend_cap_micro"] == 50_000_000


# -------------------------------------------------------------------------- Pinterest
# CampaignCreateRequest of https://developers.pinterest.com/docs/api/v5/campaigns-create
# (pinterest-python-generated-api-client docs): spend caps in microcurrency, times in
# Unix seconds, the body an array of campaigns.
PINTEREST_EXAMPLE = [
    {
        "ad_account_id": "549755885175",
        "name": "Spring sale",
        "status": "PAUSED",
        "objective_type": "CONSIDERATION",
        "daily_spend_cap": 20000000,
        "start_time": 1777593600,
        "end_time": 1780271999,
    }
]


def test_pinterest_matches_the_documented_fields() -> None:
    body = PinterestCampaignTranslator().request_body(
        draft(
            campaign_name="Spring sale",
            budget=Decimal(20),
            account_id="549755885175",
            start_date=date(2026, 5, 1),
            end_date=date(2026, 5, 31),
            payload_config={"objective_type": "CONSIDERATION"},
        )
    )
    assert body == PINTEREST_EXAMPLE


def test_pinterest_rejects_deprecated_objective_and_fractions_of_yen() -> None:
    problems = PinterestCampaignTranslator().validate(
        draft(budget=Decimal("10.5"), currency="JPY", payload_config={"objective": "WEB_SESSIONS"})
    )
    assert [str(p) for p in problems][1] == "budget: JPY budgets are in whole units"
    assert problems[0].field == "payload_config.objective_type"


# ------------------------------------------------------------------------- Google Ads
# googleads/google-ads-rest add_campaigns.sh, https://developers.google.com/google-ads/api/rest/examples
GOOGLE_BUDGET_EXAMPLE = {
    "operations": [
        {
            "create": {
                "name": "Interplanetary Cruise budget",
                "deliveryMethod": "STANDARD",
                "amountMicros": 500000,
                "explicitlyShared": False,
            }
        }
    ]
}
GOOGLE_CAMPAIGN_EXAMPLE = {
    "operations": [
        {
            "create": {
                "campaignBudget": "customers/1234567890/campaignBudgets/111",
                "name": "Interplanetary Cruise",
                "advertisingChannelType": "SEARCH",
                "status": "PAUSED",
                "manualCpc": {},
                "networkSettings": {
                    "targetGoogleSearch": True,
                    "targetSearchNetwork": True,
                    "targetContentNetwork": True,
                    "targetPartnerSearchNetwork": False,
                },
                "containsEuPoliticalAdvertising": "DOES_NOT_CONTAIN_EU_POLITICAL_ADVERTISING",
            }
        }
    ]
}


def test_google_ads_budget_then_campaign_match_the_documented_example() -> None:
    translator = GoogleAdsCampaignTranslator()
    cruise = draft(campaign_name="Interplanetary Cruise", budget=Decimal("0.50"))
    assert translator.budget_create(cruise) == GOOGLE_BUDGET_EXAMPLE
    resource = "customers/1234567890/campaignBudgets/111"
    assert translator.campaign_create(cruise, resource) == GOOGLE_CAMPAIGN_EXAMPLE


def test_google_ads_validation() -> None:
    problems = GoogleAdsCampaignTranslator().validate(
        draft(
            budget=Decimal("10.001"),
            payload_config={"advertising_channel_type": "MULTI_CHANNEL", "budget_type": "LIFETIME"},
        )
    )
    assert fields(problems) == [
        "payload_config.advertising_channel_type",
        "payload_config.budget_type",
        "budget",
    ]


@pytest.mark.parametrize("translator", all_translators(), ids=lambda t: t.platform)
def test_every_translator_refuses_empty_names_and_bad_money(translator: Any) -> None:
    problems = translator.validate(draft(campaign_name=" ", budget=Decimal(-1), currency="usd"))
    assert {"campaign_name", "currency"} <= set(fields(problems))
    assert fields(translator.validate(draft(budget=Decimal("NaN")))).count("budget") == 1
