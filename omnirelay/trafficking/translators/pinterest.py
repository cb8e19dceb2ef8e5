"""Pinterest API v5: campaign create, ``POST /v5/ad_accounts/{ad_account_id}/campaigns``.

Documentation followed (via the search tool): Pinterest's "Create campaigns" reference
(https://developers.pinterest.com/docs/api/v5/campaigns-create) as generated into the
official pinterest-python-generated-api-client (``CampaignsApi``, ``CampaignCreateRequest``,
``ObjectiveType``) and the "Managing campaigns" guide:

* The body is an array of campaigns (bulk create); each has ``ad_account_id``, ``name``,
  ``objective_type`` (AWARENESS, CONSIDERATION, VIDEO_VIEW, WEB_CONVERSION, CATALOG_SALES,
  VIDEO_COMPLETION; WEB_SESSIONS is deprecated), ``status`` (ACTIVE by default; ACTIVE,
  PAUSED), ``daily_spend_cap`` or ``lifetime_spend_cap`` ("cannot be set at the same time"),
  ``start_time`` / ``end_time`` (Unix seconds).
* "The values for 'lifetime_spend_cap' and 'daily_spend_cap' are microcurrency amounts":
  1 USD is 1,000,000.
* No minimum is documented for campaign spend caps; ``payload_config.min_budget`` states
  one. Campaign names have no documented length limit.

``payload_config``: ``objective_type`` (or ``objective``), ``status`` (default PAUSED, so
nothing spends before review), ``budget_type`` DAILY | LIFETIME, ``min_budget``.
"""

from __future__ import annotations

from calendar import timegm
from typing import Any, ClassVar

from omnirelay.trafficking.translators.base import (
    CampaignDraft,
    QaProblem,
    TranslationError,
    Translator,
)
from omnirelay.trafficking.translators.common import (
    BUDGET_TYPES,
    LIFETIME,
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

OBJECTIVES = frozenset(
    {"AWARENESS", "CONSIDERATION", "VIDEO_VIEW", "WEB_CONVERSION", "CATALOG_SALES"}
    | {"VIDEO_COMPLETION"}
)
STATUSES = frozenset({"ACTIVE", "PAUSED"})
NO_DOCUMENTED_LIMIT = 10_000


def unix_day(day: Any, end: bool = False) -> int:
    return timegm(day.timetuple()) + (86_399 if end else 0)


class PinterestCampaignTranslator(Translator):
    platform: ClassVar[str] = "PINTEREST"
    documentation: ClassVar[str] = "https://developers.pinterest.com/docs/api/v5/campaigns-create"

    def validate(self, draft: CampaignDraft) -> list[QaProblem]:
        problems = name_problems(draft, NO_DOCUMENTED_LIMIT) + currency_problems(draft)
        objective = config_str(draft, "objective_type") or config_str(draft, "objective")
        for field, value, allowed in (
            ("payload_config.objective_type", objective, OBJECTIVES),
            ("payload_config.status", config_str(draft, "status", "PAUSED"), STATUSES),
            ("payload_config.budget_type", budget_type(draft), BUDGET_TYPES),
        ):
            problem = enum_problem(field, value, allowed)
            problems += [problem] if problem else []
        if not currency_problems(draft):
            problems += budget_problems(draft, decimals=iso_decimals(draft.currency))
        problem = min_budget_problem(draft)
        return problems + ([problem] if problem else []) + date_problems(draft)

    def build(self, draft: CampaignDraft) -> dict[str, Any]:
        """The one campaign of the array the endpoint takes (``request_body`` wraps it)."""
        problems = self.validate(draft)
        if not draft.account_id:
            problems.append(QaProblem("account_id", "the ad_account_id is part of the body"))
        if problems:
            raise TranslationError(problems)
        campaign: dict[str, Any] = {
            "ad_account_id": draft.account_id,
            "name": draft.campaign_name,
            "status": config_str(draft, "status", "PAUSED"),
            "objective_type": config_str(draft, "objective_type") or config_str(draft, "objective"),
        }
        field = "lifetime_spend_cap" if budget_type(draft) == LIFETIME else "daily_spend_cap"
        campaign[field] = to_micros(draft.budget)
        if draft.start_date is not None:
            campaign["start_time"] = unix_day(draft.start_date)
        if draft.end_date is not None:
            campaign["end_time"] = unix_day(draft.end_date, end=True)
        return campaign

    def request_body(self, draft: CampaignDraft) -> list[dict[str, Any]]:
        return [self.build(draft)]
