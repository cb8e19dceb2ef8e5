"""Fake TikTok Business API campaigns: ``POST /tiktok/open_api/v1.3/campaign/create/`` and
``GET /tiktok/open_api/v1.3/campaign/get/``.

Like TikTok it answers HTTP 200 with ``code`` 0 and ``data.campaign_id`` on success and a
non-zero ``code`` otherwise (40001 no token, 40002 invalid parameter). A create whose
``request_id`` this advertiser already used creates nothing and answers the campaign that
request created: the idempotency TikTok documents for ``request_id``. The read filters on
``filtering.campaign_name`` by substring, as TikTok's fuzzy match does, and pages with
``page`` / ``page_size``.
"""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from omnirelay.sandbox.campaigns import CAMPAIGNS, StoredCampaign
from omnirelay.sandbox.core import SANDBOX, finish
from omnirelay.sandbox.tiktok import (
    PARAMETER_ERROR,
    PERMISSION_ERROR,
    RATE_LIMIT,
    invalid_response,
    tiktok_answer,
)

router = APIRouter(prefix="/tiktok/open_api/v1.3/campaign")
OBJECTIVES = frozenset(
    {"APP_PROMOTION", "WEB_CONVERSIONS", "REACH", "TRAFFIC", "VIDEO_VIEWS", "PRODUCT_SALES"}
    | {"ENGAGEMENT", "LEAD_GENERATION", "RF_REACH"}
)
BUDGET_MODES = frozenset(
    {"BUDGET_MODE_DAY", "BUDGET_MODE_TOTAL", "BUDGET_MODE_INFINITE"}
    | {"BUDGET_MODE_DYNAMIC_DAILY_BUDGET"}
)


def _answer(code: int, message: str, data: dict[str, Any]) -> Response:
    envelope = json.loads(bytes(tiktok_answer(code, message).body))
    return JSONResponse({**envelope, "data": data})


def _problem(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "Request body must be a JSON object."
    for name in ("advertiser_id", "campaign_name", "objective_type"):
        if not body.get(name):
            return f"{name}: Missing data for required field."
    if body["objective_type"] not in OBJECTIVES:
        return "objective_type: Invalid enum value."
    mode = body.get("budget_mode")
    if mode not in BUDGET_MODES:
        return "budget_mode: Invalid enum value."
    budget = body.get("budget")
    if mode != "BUDGET_MODE_INFINITE" and (not isinstance(budget, int | float) or budget <= 0):
        return "budget: Missing data for required field."
    request_id = body.get("request_id")
    if request_id is not None and not str(request_id).isdigit():
        return "request_id: Not a valid int64 string."
    return None


def _throttled() -> Response:
    """TikTok's rate limit: HTTP 200 with code 40100."""
    return tiktok_answer(RATE_LIMIT, "Too many requests. Please retry in some time.")


@router.post("/create/")
async def create_campaign(request: Request) -> Response:
    record, fault = await SANDBOX.receive("tiktok", request, invalid_response, _throttled)
    if fault is not None:
        return fault
    if not request.headers.get("access-token", "").strip():
        return finish(record, tiktok_answer(PERMISSION_ERROR, "Access token is empty."))
    problem = _problem(record.body)
    if problem is not None:
        return finish(record, tiktok_answer(PARAMETER_ERROR, problem))
    body = record.body
    advertiser, request_id = str(body["advertiser_id"]), body.get("request_id")
    earlier = CAMPAIGNS.by_request_id("tiktok", advertiser, str(request_id)) if request_id else None
    if earlier is not None:
        return finish(record, _answer(0, "OK", {"campaign_id": earlier.id}))
    campaign_id = f"17{CAMPAIGNS.next_number():017d}"
    CAMPAIGNS.add(
        StoredCampaign(
            "tiktok",
            advertiser,
            campaign_id,
            body["campaign_name"],
            body,
            request_id=str(request_id) if request_id else None,
        )
    )
    return CAMPAIGNS.after_create("tiktok", record, _answer(0, "OK", {"campaign_id": campaign_id}))


@router.get("/get/")
async def get_campaigns(request: Request) -> Response:
    record, fault = await SANDBOX.receive("tiktok", request, invalid_response, _throttled)
    if fault is not None:
        return fault
    if not request.headers.get("access-token", "").strip():
        return finish(record, tiktok_answer(PERMISSION_ERROR, "Access token is empty."))
    advertiser = record.query.get("advertiser_id")
    if not advertiser:
        return finish(record, tiktok_answer(PARAMETER_ERROR, "advertiser_id: Missing data."))
    try:
        filtering = json.loads(record.query.get("filtering") or "{}")
        page = max(int(record.query.get("page") or 1), 1)
        size = min(max(int(record.query.get("page_size") or 10), 1), 1000)
    except ValueError:
        return finish(record, tiktok_answer(PARAMETER_ERROR, "filtering: Invalid JSON."))
    campaigns = CAMPAIGNS.of("tiktok", advertiser)
    wanted = filtering.get("campaign_name") if isinstance(filtering, dict) else None
    if wanted:
        campaigns = [c for c in campaigns if str(wanted) in c.name]
    chunk = campaigns[(page - 1) * size : page * size]
    data = {
        "list": [
            {"campaign_id": c.id, "campaign_name": c.name, "advertiser_id": c.account_id}
            for c in chunk
        ],
        "page_info": {
            "page": page,
            "page_size": size,
            "total_number": len(campaigns),
            "total_page": max(math.ceil(len(campaigns) / size), 1),
        },
    }
    return finish(record, _answer(0, "OK", data))
