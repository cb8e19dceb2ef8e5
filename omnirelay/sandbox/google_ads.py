"""Fake Google Ads API (REST): ``/google_ads/{version}/customers/{customer_id}/`` +
``campaignBudgets:mutate``, ``campaigns:mutate`` and ``googleAds:search``.

Mutates answer ``{"results": [{"resourceName": ...}]}``; errors are Google's envelope
``{"error": {"code", "message", "status", "details": [{"@type": ...GoogleAdsFailure,
"errors": [{"errorCode": {...}, "message"}]}]}}``: duplicate names
(``campaignBudgetError: DUPLICATE_NAME``, ``campaignError: DUPLICATE_CAMPAIGN_NAME``), a
missing ``containsEuPoliticalAdvertising`` (``fieldError: REQUIRED``), an unknown budget,
and 401 without the OAuth token or the developer token. Search understands the one shape
of GAQL the deploy sends: ``FROM campaign`` or ``FROM campaign_budget`` with ``WHERE
<resource>.name = '<name>'``.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from omnirelay.sandbox.campaigns import CAMPAIGNS, StoredCampaign
from omnirelay.sandbox.core import SANDBOX, finish

router = APIRouter(prefix="/google_ads/{version}/customers/{customer_id}")
PLATFORM = "google_ads"
FAILURE_TYPE = "type.googleapis.com/google.ads.googleads.v24.errors.GoogleAdsFailure"
CHANNELS = frozenset({"SEARCH", "DISPLAY", "SHOPPING", "VIDEO", "PERFORMANCE_MAX", "DEMAND_GEN"})
_QUERY = re.compile(
    r"FROM\s+(campaign_budget|campaign)\b.*?\.name\s*=\s*'((?:[^'\\]|\\.)*)'", re.I | re.S
)


def ads_error(category: str, reason: str, message: str, status: int = 400) -> JSONResponse:
    error = {
        "code": status,
        "message": "Request contains an invalid argument.",
        "status": "INVALID_ARGUMENT" if status == 400 else "UNAUTHENTICATED",
        "details": [
            {
                "@type": FAILURE_TYPE,
                "errors": [{"errorCode": {category: reason}, "message": message}],
            }
        ],
    }
    return JSONResponse({"error": error}, status_code=status)


def _invalid(message: str) -> Response:
    return ads_error("requestError", "INVALID_INPUT", message)


async def _received(request: Request) -> tuple[Any, Response | None]:
    record, fault = await SANDBOX.receive(PLATFORM, request, _invalid)
    if fault is not None:
        return record, fault
    bearer = request.headers.get("authorization", "")
    if not bearer.lower().startswith("bearer ") or not request.headers.get("developer-token"):
        return record, finish(
            record,
            ads_error("authenticationError", "NOT_ADS_USER", "Missing credentials.", 401),
        )
    body = record.body
    operations = body.get("operations") if isinstance(body, dict) else None
    if "query" not in (body or {}) and (not isinstance(operations, list) or not operations):
        return record, finish(record, _invalid("operations must be a non-empty list"))
    return record, None


@router.post("/campaignBudgets:mutate")
async def mutate_budgets(version: str, customer_id: str, request: Request) -> Response:
    record, refused = await _received(request)
    if refused is not None:
        return refused
    budget = (record.body["operations"][0] or {}).get("create") or {}
    name, micros = budget.get("name"), budget.get("amountMicros")
    if not name:
        return finish(record, ads_error("fieldError", "REQUIRED", "name is required"))
    try:
        valid_amount = int(str(micros)) > 0
    except (TypeError, ValueError):
        valid_amount = False
    if not valid_amount:
        return finish(record, ads_error("campaignBudgetError", "MONEY_AMOUNT_TOO_SMALL", "amount"))
    if CAMPAIGNS.named(PLATFORM, customer_id, name, kind="budget"):
        return finish(
            record, ads_error("campaignBudgetError", "DUPLICATE_NAME", "Budget name in use.")
        )
    resource = f"customers/{customer_id}/campaignBudgets/{CAMPAIGNS.next_number()}"
    CAMPAIGNS.add(StoredCampaign(PLATFORM, customer_id, resource, name, budget, kind="budget"))
    return CAMPAIGNS.after_create(
        PLATFORM, record, JSONResponse({"results": [{"resourceName": resource}]})
    )


@router.post("/campaigns:mutate")
async def mutate_campaigns(version: str, customer_id: str, request: Request) -> Response:
    record, refused = await _received(request)
    if refused is not None:
        return refused
    campaign = (record.body["operations"][0] or {}).get("create") or {}
    for field in (
        "name",
        "campaignBudget",
        "advertisingChannelType",
        "containsEuPoliticalAdvertising",
    ):
        if not campaign.get(field):
            return finish(record, ads_error("fieldError", "REQUIRED", f"{field} is required"))
    if campaign["advertisingChannelType"] not in CHANNELS:
        return finish(record, ads_error("campaignError", "INVALID_CHANNEL_TYPE", "channel type"))
    budgets = {b.id for b in CAMPAIGNS.of(PLATFORM, customer_id, kind="budget")}
    if campaign["campaignBudget"] not in budgets:
        return finish(record, ads_error("mutateError", "RESOURCE_NOT_FOUND", "No such budget."))
    if CAMPAIGNS.named(PLATFORM, customer_id, campaign["name"]):
        return finish(
            record, ads_error("campaignError", "DUPLICATE_CAMPAIGN_NAME", "Campaign name in use.")
        )
    resource = f"customers/{customer_id}/campaigns/{CAMPAIGNS.next_number()}"
    CAMPAIGNS.add(StoredCampaign(PLATFORM, customer_id, resource, campaign["name"], campaign))
    return CAMPAIGNS.after_create(
        PLATFORM, record, JSONResponse({"results": [{"resourceName": resource}]})
    )


@router.post("/googleAds:search")
async def search(version: str, customer_id: str, request: Request) -> Response:
    record, refused = await _received(request)
    if refused is not None:
        return refused
    match = _QUERY.search(str((record.body or {}).get("query") or ""))
    if match is None:
        return finish(
            record, ads_error("queryError", "UNEXPECTED_END_OF_QUERY", "Unsupported query.")
        )
    resource, name = match.group(1).lower(), re.sub(r"\\(.)", r"\1", match.group(2))
    kind, key = (
        ("budget", "campaignBudget") if resource == "campaign_budget" else ("campaign", "campaign")
    )
    rows = [
        {key: {"resourceName": c.id, "id": c.id.rsplit("/", 1)[-1], "name": c.name}}
        for c in CAMPAIGNS.of(PLATFORM, customer_id, kind=kind)
        if c.name == name
    ]
    return finish(record, JSONResponse({"results": rows}))
