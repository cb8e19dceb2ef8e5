"""TikTok Business API: campaign create, ``POST /open_api/v1.3/campaign/create/``.

Documentation followed (via the search tool): TikTok's "Create a campaign" v1.3
(https://business-api.tiktok.com/portal/docs?id=1739318962329602), as mirrored by the
official tiktok-business-api-sdk (``CampaignCreateBody``) and the bububa/tiktok-business SDK
(``model/campaign/create.go``, enums ``ObjectiveType`` and ``BudgetMode``):

* ``advertiser_id`` and ``campaign_name`` (at most 512 characters, no emoji) required;
  ``objective_type`` required: APP_PROMOTION, WEB_CONVERSIONS, REACH, TRAFFIC,
  VIDEO_VIEWS, PRODUCT_SALES, ENGAGEMENT, LEAD_GENERATION, RF_REACH (APP_INSTALL,
  CONVERSIONS, CATALOG_SALES, SHOP_PURCHASES and the other RF_* are deprecated).
* ``budget_mode``: BUDGET_MODE_DAY, BUDGET_MODE_TOTAL, BUDGET_MODE_INFINITE (no budget),
  BUDGET_MODE_DYNAMIC_DAILY_BUDGET; ``budget`` in the account currency's major units
  (50 is 50.00), required unless the mode is INFINITE.
* ``request_id``: "supports idempotency: if you retry with the same request ID only one
  request succeeds"; a 64-bit integer as a string. It is derived from the ticket, so every
  retry of one ticket's deploy carries the same value.
* ``operation_status`` ENABLE / DISABLE (allowlist-only; sent only when configured);
  ``special_industries`` HOUSING, EMPLOYMENT, CREDIT.
* Minimum budgets (TikTok Ads help "About budgets", August 2025): a campaign's daily and
  lifetime budgets must exceed 50 USD. Other currencies: ``payload_config.min_budget``.

``payload_config``: ``objective_type`` (or ``objective``), ``budget_type`` DAILY | LIFETIME
or ``budget_mode`` directly, optional ``operation_status``, ``special_industries``,
``min_budget``.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any, ClassVar

from omnirelay.trafficking.translators.base import (
    CampaignDraft,
    QaProblem,
    TranslationError,
    Translator,
)
from omnirelay.trafficking.translators.common import (
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
)

OBJECTIVES = frozenset(
    {"APP_PROMOTION", "WEB_CONVERSIONS", "REACH", "TRAFFIC", "VIDEO_VIEWS", "PRODUCT_SALES"}
    | {"ENGAGEMENT", "LEAD_GENERATION", "RF_REACH"}
)
INFINITE = "BUDGET_MODE_INFINITE"
BUDGET_MODES = frozenset(
    {"BUDGET_MODE_DAY", "BUDGET_MODE_TOTAL", INFINITE, "BUDGET_MODE_DYNAMIC_DAILY_BUDGET"}
)
OPERATION_STATUSES = frozenset({"ENABLE", "DISABLE"})
SPECIAL_INDUSTRIES = frozenset({"HOUSING", "EMPLOYMENT", "CREDIT"})
MINIMUMS = {"DAILY": Minimum("USD", Decimal(50)), LIFETIME: Minimum("USD", Decimal(50))}
MAX_NAME_LENGTH = 512


def request_id_for(ticket_id: str) -> str:
    """The ticket's idempotency key: a stable positive 64-bit integer, as TikTok wants it."""
    digest = hashlib.sha256(f"omnirelay-deploy:{ticket_id}".encode()).digest()
    return str(int.from_bytes(digest[:8], "big") & (2**63 - 1) or 1)


class TikTokCampaignTranslator(Translator):
    platform: ClassVar[str] = "TIKTOK"
    documentation: ClassVar[str] = "https://business-api.tiktok.com/portal/docs?id=1739318962329602"

    def validate(self, draft: CampaignDraft) -> list[QaProblem]:
        problems = name_problems(draft, MAX_NAME_LENGTH) + currency_problems(draft)
        objective = config_str(draft, "objective_type") or config_str(draft, "objective")
        mode = self.budget_mode(draft)
        for field, value, allowed in (
            ("payload_config.objective_type", objective, OBJECTIVES),
            ("payload_config.budget_mode", mode, BUDGET_MODES),
        ):
            problem = enum_problem(field, value, allowed)
            problems += [problem] if problem else []
        status = config_str(draft, "operation_status")
        if status is not None and status not in OPERATION_STATUSES:
            problem = enum_problem("payload_config.operation_status", status, OPERATION_STATUSES)
            problems += [problem] if problem else []
        problems += self._industry_problems(draft)
        if mode != INFINITE and not currency_problems(draft):
            decimals = iso_decimals(draft.currency)
            problems += budget_problems(draft, decimals=decimals, minimums=MINIMUMS)
        problem = min_budget_problem(draft)
        return problems + ([problem] if problem else []) + date_problems(draft)

    def build(self, draft: CampaignDraft) -> dict[str, Any]:
        problems = self.validate(draft)
        if not draft.account_id:
            problems.append(QaProblem("account_id", "the advertiser_id is part of the body"))
        if problems:
            raise TranslationError(problems)
        body: dict[str, Any] = {
            "advertiser_id": draft.account_id,
            "campaign_name": draft.campaign_name,
            "objective_type": config_str(draft, "objective_type") or config_str(draft, "objective"),
            "budget_mode": self.budget_mode(draft),
        }
        if body["budget_mode"] != INFINITE:
            body["budget"] = float(draft.budget)
        status = config_str(draft, "operation_status")
        if status is not None:
            body["operation_status"] = status
        industries = draft.payload_config.get("special_industries")
        if industries:
            body["special_industries"] = [str(value).upper() for value in industries]
        body["request_id"] = request_id_for(draft.ticket_id)
        return body

    def budget_mode(self, draft: CampaignDraft) -> str | None:
        configured = config_str(draft, "budget_mode")
        if configured is not None:
            return configured
        kind = budget_type(draft)
        return {"DAILY": "BUDGET_MODE_DAY", LIFETIME: "BUDGET_MODE_TOTAL"}.get(kind or "", kind)

    def _industry_problems(self, draft: CampaignDraft) -> list[QaProblem]:
        industries = draft.payload_config.get("special_industries")
        if industries is None:
            return []
        field = "payload_config.special_industries"
        if not isinstance(industries, list | tuple):
            return [QaProblem(field, "must be a list")]
        unknown = [i for i in industries if str(i).upper() not in SPECIAL_INDUSTRIES]
        if unknown:
            return [
                QaProblem(field, f"{unknown!r} not among {', '.join(sorted(SPECIAL_INDUSTRIES))}")
            ]
        return []
