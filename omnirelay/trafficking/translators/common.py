"""What every translator checks the same way: money in the units a platform counts, enums,
required settings, dates.

Pure helpers; each translator states which apply to its platform and with which values.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from omnirelay.trafficking.translators.base import CampaignDraft, QaProblem

# ISO 4217 currencies with no minor unit, and those with three decimals (the ISO table;
# Meta's own table differs and lives in omnirelay.trafficking.translators.meta).
ISO_ZERO_DECIMAL = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI"}
    | {"VND", "VUV", "XAF", "XOF", "XPF"}
)
ISO_THREE_DECIMAL = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})
MICROS_PER_UNIT = 1_000_000
DAILY, LIFETIME = "DAILY", "LIFETIME"
BUDGET_TYPES = (DAILY, LIFETIME)


def iso_decimals(currency: str) -> int:
    if currency in ISO_ZERO_DECIMAL:
        return 0
    return 3 if currency in ISO_THREE_DECIMAL else 2


def config_str(draft: CampaignDraft, key: str, default: str | None = None) -> str | None:
    """A payload_config setting as an upper-case string (platform enums are upper case)."""
    value = draft.payload_config.get(key)
    if value is None or str(value).strip() == "":
        return default
    return str(value).strip().upper()


def budget_type(draft: CampaignDraft) -> str | None:
    return config_str(draft, "budget_type", DAILY)


def enum_problem(field: str, value: str | None, allowed: Collection[str]) -> QaProblem | None:
    if value is None:
        return QaProblem(field, f"required; one of {', '.join(sorted(allowed))}")
    if value not in allowed:
        return QaProblem(field, f"{value!r} is not one of {', '.join(sorted(allowed))}")
    return None


def name_problems(draft: CampaignDraft, max_length: int) -> list[QaProblem]:
    name = draft.campaign_name
    if not name or not name.strip():
        return [QaProblem("campaign_name", "required")]
    if len(name) > max_length:
        return [QaProblem("campaign_name", f"longer than the platform's {max_length} characters")]
    return []


def currency_problems(draft: CampaignDraft) -> list[QaProblem]:
    currency = draft.currency
    if len(currency) != 3 or not currency.isalpha() or not currency.isupper():
        return [QaProblem("currency", f"{currency!r} is not an upper-case ISO 4217 code")]
    return []


@dataclass(frozen=True)
class Minimum:
    """A platform's documented minimum budget, in major units of one currency."""

    currency: str
    amount: Decimal


def budget_problems(
    draft: CampaignDraft,
    *,
    decimals: int,
    minimums: Mapping[str, Minimum] | None = None,
) -> list[QaProblem]:
    """The budget is positive, has no more decimals than the currency counts, and reaches
    the platform's minimum: the documented one for its budget type where the minimum is
    known in this currency, else ``payload_config.min_budget`` (the ad account's own
    minimum, which platforms publish per account and currency)."""
    budget = draft.budget
    if not budget.is_finite() or budget <= 0:
        return [QaProblem("budget", "must be a positive amount")]
    problems = []
    if budget != budget.quantize(Decimal(1).scaleb(-decimals)):
        unit = "whole units" if decimals == 0 else f"{decimals} decimals"
        problems.append(QaProblem("budget", f"{draft.currency} budgets are in {unit}"))
    minimum = _minimum(draft, minimums or {})
    if minimum is not None and budget < minimum:
        kind = (budget_type(draft) or DAILY).lower()
        problems.append(
            QaProblem(
                "budget", f"below the platform's {kind} minimum of {minimum} {draft.currency}"
            )
        )
    return problems


def _minimum(draft: CampaignDraft, minimums: Mapping[str, Minimum]) -> Decimal | None:
    configured = draft.payload_config.get("min_budget")
    if configured is not None:
        try:
            return Decimal(str(configured))
        except ArithmeticError:
            return None
    documented = minimums.get(budget_type(draft) or DAILY)
    if documented is not None and documented.currency == draft.currency:
        return documented.amount
    return None


def min_budget_problem(draft: CampaignDraft) -> QaProblem | None:
    configured = draft.payload_config.get("min_budget")
    if configured is None:
        return None
    try:
        Decimal(str(configured))
    except ArithmeticError:
        return QaProblem("payload_config.min_budget", f"{configured!r} is not an amount")
    return None


def date_problems(draft: CampaignDraft, *, lifetime_needs_end: bool = False) -> list[QaProblem]:
    problems = []
    start, end = draft.start_date, draft.end_date
    if start is not None and end is not None and end < start:
        problems.append(QaProblem("end_date", "before start_date"))
    if lifetime_needs_end and budget_type(draft) == LIFETIME and end is None:
        problems.append(QaProblem("end_date", "required with a lifetime budget"))
    return problems


def to_micros(amount: Decimal) -> int:
    return int((amount * MICROS_PER_UNIT).to_integral_value(rounding=ROUND_HALF_UP))


def iso_day_start(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"
