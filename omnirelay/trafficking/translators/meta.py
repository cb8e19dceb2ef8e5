"""Meta Marketing API: campaign create, ``POST /{version}/act_{ad_account_id}/campaigns``.

Documentation followed (stored copies of developers.facebook.com, via the search tool):

* Ad Account Campaigns reference (.../marketing-api/reference/ad-account/campaigns) and the
  Campaign reference (.../reference/ad-campaign-group): ``name``, ``objective``, ``status``,
  ``special_ad_categories`` ("required and accepts an array"; businesses whose ads belong
  to no category "send an empty array"), ``buying_type`` (AUCTION, the default, or
  RESERVED), ``bid_strategy``, ``daily_budget`` / ``lifetime_budget``, ``start_time`` /
  ``stop_time``. The enums are those of the Business SDK v26 in the dev dependencies
  (``facebook_business.adobjects.campaign``): objectives of the outcome-driven (ODAX) set
  ``OUTCOME_APP_PROMOTION | AWARENESS | ENGAGEMENT | LEADS | SALES | TRAFFIC`` (the legacy
  objectives are no longer accepted for new campaigns); status ACTIVE / PAUSED on create;
  special ad categories CREDIT, EMPLOYMENT, FINANCIAL_PRODUCTS_SERVICES, HOUSING,
  ISSUES_ELECTIONS_POLITICS, ONLINE_GAMBLING_AND_GAMING, NONE; bid strategies
  LOWEST_COST_WITHOUT_CAP, LOWEST_COST_WITH_BID_CAP, COST_CAP, LOWEST_COST_WITH_MIN_ROAS.
* Budgets (.../marketing-api/bidding/overview/budgets): amounts are "at ad account
  currencies minimum denomination level, such as cents for USD" (``daily_budget=2000`` is 20
  dollars). Currencies (.../marketing-api/currencies): each currency has an offset, 100 for
  most and 1 for CLP, COP, CRC, HUF, ISK, IDR, JPY, KRW, PYG, TWD and VND, so 5000 JPY is
  sent as 5000.
* Minimum budgets (Meta Business Help "About minimum budgets"): at least 1 USD a day for an
  ad set charged for impressions, more for clicks (5) and low-frequency events (40); a
  lifetime budget must cover the daily minimum for every day. Only the USD figure is
  checked here (the help page lists minimums in USD); ``payload_config.min_budget`` states
  the ad account's own minimum in its currency (Graph exposes it per account).

``payload_config``: ``objective`` (required), ``special_ad_categories`` (required list,
may be empty), ``status`` (default PAUSED, so nothing spends before someone looks),
``budget_type`` DAILY | LIFETIME (default DAILY), optional ``buying_type``,
``bid_strategy``, ``min_budget``.
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
    iso_day_start,
    min_budget_problem,
    name_problems,
)

OBJECTIVES = frozenset(
    {"OUTCOME_APP_PROMOTION", "OUTCOME_AWARENESS", "OUTCOME_ENGAGEMENT", "OUTCOME_LEADS"}
    | {"OUTCOME_SALES", "OUTCOME_TRAFFIC"}
)
STATUSES = frozenset({"ACTIVE", "PAUSED"})
SPECIAL_AD_CATEGORIES = frozenset(
    {"CREDIT", "EMPLOYMENT", "FINANCIAL_PRODUCTS_SERVICES", "HOUSING"}
    | {"ISSUES_ELECTIONS_POLITICS", "ONLINE_GAMBLING_AND_GAMING", "NONE"}
)
BUYING_TYPES = frozenset({"AUCTION", "RESERVED"})
BID_STRATEGIES = frozenset(
    {"LOWEST_COST_WITHOUT_CAP", "LOWEST_COST_WITH_BID_CAP", "COST_CAP"}
    | {"LOWEST_COST_WITH_MIN_ROAS"}
)
# Meta's currency table: the currencies whose offset is 1 (no minor unit in the API).
OFFSET_ONE_CURRENCIES = frozenset(
    {"CLP", "COP", "CRC", "HUF", "ISK", "IDR", "JPY", "KRW", "PYG", "TWD", "VND"}
)
DAILY_MINIMUM = Minimum("USD", Decimal("1.00"))
MAX_NAME_LENGTH = 400  # Graph's limit on object names


def currency_offset(currency: str) -> int:
    return 1 if currency in OFFSET_ONE_CURRENCIES else 100


def minor_units(amount: Decimal, currency: str) -> int:
    """The budget as Meta counts it: the amount times the currency's offset."""
    return int(amount * currency_offset(currency))


class MetaCampaignTranslator(Translator):
    platform: ClassVar[str] = "META"
    documentation: ClassVar[str] = (
        "https://developers.facebook.com/docs/marketing-api/reference/ad-account/campaigns/"
    )

    def validate(self, draft: CampaignDraft) -> list[QaProblem]:
        problems = name_problems(draft, MAX_NAME_LENGTH) + currency_problems(draft)
        for field, value, allowed in (
            ("payload_config.objective", config_str(draft, "objective"), OBJECTIVES),
            ("payload_config.status", config_str(draft, "status", "PAUSED"), STATUSES),
            ("payload_config.budget_type", budget_type(draft), BUDGET_TYPES),
        ):
            problem = enum_problem(field, value, allowed)
            if problem is not None:
                problems.append(problem)
        for key, allowed in (("buying_type", BUYING_TYPES), ("bid_strategy", BID_STRATEGIES)):
            value = config_str(draft, key)
            optional = enum_problem(f"payload_config.{key}", value, allowed) if value else None
            problems += [optional] if optional else []
        problems += self._category_problems(draft)
        if not currency_problems(draft):
            decimals = 0 if currency_offset(draft.currency) == 1 else 2
            problems += budget_problems(draft, decimals=decimals, minimums=self._minimums(draft))
        problem = min_budget_problem(draft)
        problems += [problem] if problem else []
        return problems + date_problems(draft, lifetime_needs_end=True)

    def build(self, draft: CampaignDraft) -> dict[str, Any]:
        problems = self.validate(draft)
        if problems:
            raise TranslationError(problems)
        body: dict[str, Any] = {
            "name": draft.campaign_name,
            "objective": config_str(draft, "objective"),
            "status": config_str(draft, "status", "PAUSED"),
            "special_ad_categories": [
                str(category).upper() for category in draft.payload_config["special_ad_categories"]
            ],
        }
        budget_field = "lifetime_budget" if budget_type(draft) == LIFETIME else "daily_budget"
        body[budget_field] = minor_units(draft.budget, draft.currency)
        for key in ("buying_type", "bid_strategy"):
            value = config_str(draft, key)
            if value is not None:
                body[key] = value
        if draft.start_date is not None:
            body["start_time"] = iso_day_start(draft.start_date)
        if draft.end_date is not None:
            body["stop_time"] = f"{draft.end_date.isoformat()}T23:59:59Z"
        return body

    def _category_problems(self, draft: CampaignDraft) -> list[QaProblem]:
        field = "payload_config.special_ad_categories"
        categories = draft.payload_config.get("special_ad_categories")
        if categories is None:
            return [QaProblem(field, "required: a list, empty when no special category applies")]
        if not isinstance(categories, list | tuple):
            return [QaProblem(field, "must be a list")]
        unknown = [c for c in categories if str(c).upper() not in SPECIAL_AD_CATEGORIES]
        if unknown:
            allowed = ", ".join(sorted(SPECIAL_AD_CATEGORIES))
            return [QaProblem(field, f"{unknown!r} not among {allowed}")]
        return []

    def _minimums(self, draft: CampaignDraft) -> dict[str, Minimum]:
        minimums = {"DAILY": DAILY_MINIMUM}
        if draft.start_date is not None and draft.end_date is not None:
            days = max((draft.end_date - draft.start_date).days + 1, 1)
            minimums[LIFETIME] = Minimum("USD", DAILY_MINIMUM.amount * days)
        return minimums
