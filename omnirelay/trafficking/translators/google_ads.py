"""Google Ads API (REST): a campaign budget, then the campaign that spends it.

Documentation followed (via the search tool): the REST examples of
https://developers.google.com/google-ads/api/rest/examples and googleads/google-ads-rest
``add_campaigns.sh``, the Mutate guide (``/rest/common/mutate``) and the references of
``CampaignBudgetService.MutateCampaignBudgets`` and ``CampaignService.MutateCampaigns``:

1. ``POST /v{N}/customers/{customer_id}/campaignBudgets:mutate`` with
   ``{"operations": [{"create": {"name", "deliveryMethod": "STANDARD", "amountMicros"}}]}``;
   the answer's ``results[0].resourceName`` (``customers/{id}/campaignBudgets/{id}``) is
   the budget's resource name. Amounts are micros of the account currency (1,000,000 per
   unit) and must be a whole number of the currency's minimum unit. Campaign budgets are
   daily; ``explicitlyShared`` is false since the budget belongs to this campaign alone.
2. ``POST /v{N}/customers/{customer_id}/campaigns:mutate`` with ``{"operations":
   [{"create": {"campaignBudget": <resource name>, "name", "advertisingChannelType",
   "status", "manualCpc": {}, "networkSettings": {...}}}]}``. Status ENABLED or PAUSED on
   create (PAUSED by default here). SEARCH and DISPLAY are the channel types a campaign
   can be created as with nothing but a budget and manual CPC bidding (the documented
   example); the others need settings this translator does not carry.
3. ``containsEuPoliticalAdvertising`` is required on every campaign create since the
   EU political advertising rules (``FieldError.REQUIRED`` without it): sent as
   DOES_NOT_CONTAIN_EU_POLITICAL_ADVERTISING unless ``payload_config.eu_political_advertising``.
4. ``startDateTime`` / ``endDateTime`` as ``yyyy-MM-dd HH:mm:ss`` in the account's zone.

``payload_config``: ``advertising_channel_type`` (default SEARCH), ``status``,
``eu_political_advertising``, ``min_budget``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from omnirelay.trafficking.translators.base import (
    CampaignDraft,
    QaProblem,
    TranslationError,
    Translator,
)
from omnirelay.trafficking.translators.common import (
    budget_problems,
    budget_type,
    config_str,
    currency_problems,
    date_problems,
    enum_problem,
    iso_decimals,
    min_budget_problem,
    name_problems,
    to_micros,
)

CHANNEL_TYPES = frozenset({"SEARCH", "DISPLAY"})
STATUSES = frozenset({"ENABLED", "PAUSED"})
MAX_NAME_LENGTH = 255
SEARCH_NETWORKS = {
    "targetGoogleSearch": True,
    "targetSearchNetwork": True,
    "targetContentNetwork": True,
    "targetPartnerSearchNetwork": False,
}


def budget_name(campaign_name: str) -> str:
    """The budget's name, derived from the campaign's so a retry can find the budget an
    interrupted attempt created (budget names are unique in an account)."""
    return f"{campaign_name} budget"


class GoogleAdsCampaignTranslator(Translator):
    platform: ClassVar[str] = "GOOGLE_ADS"
    documentation: ClassVar[str] = "https://developers.google.com/google-ads/api/rest/examples"

    def validate(self, draft: CampaignDraft) -> list[QaProblem]:
        problems = name_problems(draft, MAX_NAME_LENGTH) + currency_problems(draft)
        channel = config_str(draft, "advertising_channel_type", "SEARCH")
        for field, value, allowed in (
            ("payload_config.advertising_channel_type", channel, CHANNEL_TYPES),
            ("payload_config.status", config_str(draft, "status", "PAUSED"), STATUSES),
        ):
            problem = enum_problem(field, value, allowed)
            problems += [problem] if problem else []
        if budget_type(draft) != "DAILY":
            problems.append(QaProblem("payload_config.budget_type", "Google Ads budgets are daily"))
        if not currency_problems(draft):
            problems += budget_problems(draft, decimals=iso_decimals(draft.currency))
        problem = min_budget_problem(draft)
        return problems + ([problem] if problem else []) + date_problems(draft)

    def build(self, draft: CampaignDraft) -> dict[str, Any]:
        """Both resources: ``campaign_budget`` as created first, then ``campaign`` (its
        ``campaignBudget`` is the first step's resource name, see ``campaign_create``)."""
        problems = self.validate(draft)
        if problems:
            raise TranslationError(problems)
        budget = {
            "name": budget_name(draft.campaign_name),
            "deliveryMethod": "STANDARD",
            "amountMicros": to_micros(draft.budget),
            "explicitlyShared": False,
        }
        channel = config_str(draft, "advertising_channel_type", "SEARCH")
        campaign: dict[str, Any] = {
            "name": draft.campaign_name,
            "advertisingChannelType": channel,
            "status": config_str(draft, "status", "PAUSED"),
            "manualCpc": {},
        }
        if channel == "SEARCH":
            campaign["networkSettings"] = dict(SEARCH_NETWORKS)
        political = bool(draft.payload_config.get("eu_political_advertising"))
        campaign["containsEuPoliticalAdvertising"] = (
            "CONTAINS_EU_POLITICAL_ADVERTISING"
            if political
            else "DOES_NOT_CONTAIN_EU_POLITICAL_ADVERTISING"
        )
        if draft.start_date is not None:
            campaign["startDateTime"] = f"{draft.start_date.isoformat()} 00:00:00"
        if draft.end_date is not None:
            campaign["endDateTime"] = f"{draft.end_date.isoformat()} 23:59:59"
        return {"campaign_budget": budget, "campaign": campaign}

    def budget_create(self, draft: CampaignDraft) -> dict[str, Any]:
        return {"operations": [{"create": self.build(draft)["campaign_budget"]}]}

    def campaign_create(self, draft: CampaignDraft, budget_resource_name: str) -> dict[str, Any]:
        campaign = {"campaignBudget": budget_resource_name, **self.build(draft)["campaign"]}
        return {"operations": [{"create": campaign}]}
