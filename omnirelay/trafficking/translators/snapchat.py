"""Snapchat Marketing API: campaign create, ``POST /v1/adaccounts/{ad_account_id}/campaigns``.

Documentation followed (via the search tool): Snap's Campaigns page
(https://developers.snap.com/api/marketing-api/Ads-API/campaigns) and API Patterns page:

* Body ``{"campaigns": [{...}]}``; attributes ``ad_account_id`` (R), ``name`` (R, at most
  375 characters), ``status`` (R: ACTIVE, PAUSED), ``start_time`` (R), ``end_time``,
  ``daily_budget_micro`` ("Daily Spend Cap (micro-currency)") and
  ``lifetime_spend_cap_micro``, ``objective`` (optional: BRAND_AWARENESS, the default,
  APP_CONVERSION, APP_INSTALL, CATALOG_SALES, ENGAGEMENT, LEAD_GENERATION, VIDEO_VIEW,
  WEB_CONVERSION, PROMOTE_STORIES, PROMOTE_PLACES).
* Money is micro-currency: 1.00 is 1,000,000 (50 USD a day is ``50000000``).
* Minimum spend cap: 20 USD for a campaign's daily budget or lifetime cap (Snap's ads
  guidance as quoted by third-party tooling; the attribute table gives no figure). Other
  currencies: ``payload_config.min_budget``.

``payload_config``: ``status`` (default PAUSED), ``objective``, ``budget_type`` DAILY |
LIFETIME, ``min_budget``. ``start_date`` is required by Snap.
"""

from __future__ import annotations

from decimal import Decimal
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
    Minimum,
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

STATUSES = frozenset({"ACTIVE", "PAUSED"})
OBJECTIVES = frozenset(
    {"BRAND_AWARENESS", "APP_CONVERSION", "APP_INSTALL", "CATALOG_SALES", "ENGAGEMENT"}
    | {"LEAD_GENERATION", "VIDEO_VIEW", "WEB_CONVERSION", "PROMOTE_STORIES", "PROMOTE_PLACES"}
)
MINIMUMS = {"DAILY": Minimum("USD", Decimal(20)), LIFETIME: Minimum("USD", Decimal(20))}
MAX_NAME_LENGTH = 375


def snap_time(day: Any, end: bool = False) -> str:
    return f"{day.isoformat()}T{'23:59:59.999' if end else '00:00:00.000'}Z"


class SnapchatCampaignTranslator(Translator):
    platform: ClassVar[str] = "SNAPCHAT"
    documentation: ClassVar[str] = "https://developers.snap.com/api/marketing-api/Ads-API/campaigns"

    def validate(self, draft: CampaignDraft) -> list[QaProblem]:
        problems = name_problems(draft, MAX_NAME_LENGTH) + currency_problems(draft)
        for field, value, allowed in (
            ("payload_config.status", config_str(draft, "status", "PAUSED"), STATUSES),
            ("payload_config.budget_type", budget_type(draft), BUDGET_TYPES),
        ):
            problem = enum_problem(field, value, allowed)
            problems += [problem] if problem else []
        objective = config_str(draft, "objective")
        if objective is not None and objective not in OBJECTIVES:
            problem = enum_problem("payload_config.objective", objective, OBJECTIVES)
            problems += [problem] if problem else []
        if draft.start_date is None:
            problems.append(QaProblem("start_date", "required by Snapchat"))
        if not currency_problems(draft):
            decimals = iso_decimals(draft.currency)
            problems += budget_problems(draft, decimals=decimals, minimums=MINIMUMS)
        problem = min_budget_problem(draft)
        return problems + ([problem] if problem else []) + date_problems(draft)

    def build(self, draft: CampaignDraft) -> dict[str, Any]:
        problems = self.validate(draft)
        if not draft.account_id:
            problems.append(QaProblem("account_id", "the ad_account_id is part of the body"))
        if problems:
            raise TranslationError(problems)
        campaign: dict[str, Any] = {
            "name": draft.campaign_name,
            "ad_account_id": draft.account_id,
            "status": config_str(draft, "status", "PAUSED"),
        }
        objective = config_str(draft, "objective")
        if objective is not None:
            campaign["objective"] = objective
        campaign["start_time"] = snap_time(draft.start_date)
        if draft.end_date is not None:
            campaign["end_time"] = snap_time(draft.end_date, end=True)
        field = (
            "lifetime_spend_cap_micro" if budget_type(draft) == LIFETIME else "daily_budget_micro"
        )
        campaign[field] = to_micros(draft.budget)
        return {"campaigns": [campaign]}
