"""Fake Pinterest API v5 campaigns: ``POST``/``GET /pinterest/v5/ad_accounts/{id}/campaigns``.

Create takes the array of campaigns and answers ``{"items": [{"data": {..., "id"},
"exceptions": []}]}``, one item per campaign; an invalid campaign's item has ``data: null``
and its ``exceptions``. Errors of the request itself are ``{"code", "message"}`` with a 4xx
(401 without a Bearer token). The list pages with ``page_size`` (at most 250) and
``bookmark``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from omnirelay.sandbox.campaigns import CAMPAIGNS, StoredCampaign
from omnirelay.sandbox.core import SANDBOX, finish

router = APIRouter(prefix="/pinterest/v5/ad_accounts")
OBJECTIVES = frozenset(
    {"AWARENESS", "CONSIDERATION", "VIDEO_VIEW", "WEB_CONVERSION", "CATALOG_SALES"}
    | {"VIDEO_COMPLETION"}
)
STATUSES = frozenset({"ACTIVE", "PAUSED"})


def pinterest_error(message: str, status: int = 400, code: int = 1) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


def _authorized(request: Request) -> bool:
    bearer = request.headers.get("authorization", "")
    return bearer.lower().startswith("bearer ") and bool(bearer[7:].strip())


def _problem(campaign: Any, account_id: str) -> str | None:
    if not isinstance(campaign, dict):
        return "Invalid campaign: not an object"
    if not campaign.get("name"):
        return "name is required"
    if str(campaign.get("ad_account_id")) != account_id:
        return "ad_account_id does not match the path"
    if campaign.get("objective_type") not in OBJECTIVES:
        return "objective_type is invalid"
    if campaign.get("status", "ACTIVE") not in STATUSES:
        return "status is invalid"
    if (
        campaign.get("daily_spend_cap") is not None
        and campaign.get("lifetime_spend_cap") is not None
    ):
        return "lifetime_spend_cap and daily_spend_cap cannot be set at the same time"
    return None


@router.post("/{account_id}/campaigns")
async def create_campaigns(account_id: str, request: Request) -> Response:
    record, fault = await SANDBOX.receive("pinterest", request, pinterest_error)
    if fault is not None:
        return fault
    if not _authorized(request):
        return finish(record, pinterest_error("Authentication failed.", status=401, code=2))
    campaigns = record.body
    if not isinstance(campaigns, list) or not campaigns:
        return finish(record, pinterest_error("Invalid request: an array of campaigns is required"))
    items: list[dict[str, Any]] = []
    for campaign in campaigns:
        problem = _problem(campaign, account_id)
        if problem is not None:
            items.append({"data": None, "exceptions": [{"code": 2646, "message": problem}]})
            continue
        number = CAMPAIGNS.next_number()
        stored = StoredCampaign(
            "pinterest", account_id, f"6267{number:08d}", campaign["name"], campaign
        )
        CAMPAIGNS.add(stored)
        items.append({"data": {**campaign, "id": stored.id}, "exceptions": []})
    created = any(item["data"] for item in items)
    answer = JSONResponse({"items": items})
    if not created:
        return finish(record, answer)
    return CAMPAIGNS.after_create("pinterest", record, answer)


@router.get("/{account_id}/campaigns")
async def list_campaigns(account_id: str, request: Request) -> Response:
    record, fault = await SANDBOX.receive("pinterest", request, pinterest_error)
    if fault is not None:
        return fault
    if not _authorized(request):
        return finish(record, pinterest_error("Authentication failed.", status=401, code=2))
    try:
        size = int(record.query.get("page_size") or 25)
        start = int(record.query.get("bookmark") or 0)
    except ValueError:
        return finish(record, pinterest_error("Invalid page_size or bookmark"))
    if not 1 <= size <= 250:
        return finish(record, pinterest_error("page_size must be between 1 and 250"))
    campaigns = CAMPAIGNS.of("pinterest", account_id)
    page = campaigns[start : start + size]
    more = start + size < len(campaigns)
    items: list[dict[str, Any]] = [{**c.body, "id": c.id} for c in page]
    return finish(
        record, JSONResponse({"items": items, "bookmark": str(start + size) if more else None})
    )
