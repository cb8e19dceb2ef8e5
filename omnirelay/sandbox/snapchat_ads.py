"""Fake Snapchat Marketing API campaigns: ``POST``/``GET
/snapchat/v1/adaccounts/{ad_account_id}/campaigns``.

Answers in Snap's envelope: ``request_status`` SUCCESS with one ``sub_request_status`` per
campaign, or ERROR with ``debug_message`` / ``display_message`` / ``error_code`` (HTTP 400;
401 without a Bearer token). The list pages with ``limit`` (50 to 1000) and a ``cursor``
given back in ``paging.next_link``.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from omnirelay.sandbox.campaigns import CAMPAIGNS, StoredCampaign
from omnirelay.sandbox.core import SANDBOX, finish

router = APIRouter(prefix="/snapchat/v1/adaccounts")
STATUSES = frozenset({"ACTIVE", "PAUSED"})


def snap_error(message: str, status: int = 400, code: str = "E1001") -> JSONResponse:
    body = {
        "request_status": "ERROR",
        "request_id": uuid.uuid4().hex,
        "debug_message": message,
        "display_message": "We're sorry, but the data provided in the request is invalid.",
        "error_code": code,
    }
    return JSONResponse(body, status_code=status)


def _authorized(request: Request) -> bool:
    bearer = request.headers.get("authorization", "")
    return bearer.lower().startswith("bearer ") and bool(bearer[7:].strip())


def _problem(campaign: Any, account_id: str) -> str | None:
    if not isinstance(campaign, dict):
        return "Each campaign must be an object"
    for name in ("name", "ad_account_id", "status", "start_time"):
        if not campaign.get(name):
            return f"{name} is required"
    if campaign["ad_account_id"] != account_id:
        return "ad_account_id does not match the path"
    if campaign["status"] not in STATUSES:
        return "status must be ACTIVE or PAUSED"
    for key in ("daily_budget_micro", "lifetime_spend_cap_micro"):
        value = campaign.get(key)
        if value is not None and (not isinstance(value, int) or value <= 0):
            return f"{key} must be a positive integer"
    return None


@router.post("/{account_id}/campaigns")
async def create_campaigns(account_id: str, request: Request) -> Response:
    record, fault = await SANDBOX.receive("snapchat", request, snap_error)
    if fault is not None:
        return fault
    if not _authorized(request):
        return finish(record, snap_error("Unauthorized", status=401, code="E1003"))
    body = record.body
    campaigns = body.get("campaigns") if isinstance(body, dict) else None
    if not isinstance(campaigns, list) or not campaigns:
        return finish(record, snap_error("campaigns must be a non-empty array"))
    problems = [_problem(c, account_id) for c in campaigns]
    if any(problems):
        return finish(record, snap_error("; ".join(p for p in problems if p)))
    answered = []
    for campaign in campaigns:
        stored = StoredCampaign(
            "snapchat", account_id, str(uuid.uuid4()), campaign["name"], campaign
        )
        CAMPAIGNS.add(stored)
        answered.append(
            {"sub_request_status": "SUCCESS", "campaign": {**campaign, "id": stored.id}}
        )
    answer = {"request_status": "SUCCESS", "request_id": uuid.uuid4().hex, "campaigns": answered}
    return CAMPAIGNS.after_create("snapchat", record, JSONResponse(answer))


@router.get("/{account_id}/campaigns")
async def list_campaigns(account_id: str, request: Request) -> Response:
    record, fault = await SANDBOX.receive("snapchat", request, snap_error)
    if fault is not None:
        return fault
    if not _authorized(request):
        return finish(record, snap_error("Unauthorized", status=401, code="E1003"))
    try:
        limit = int(record.query.get("limit") or 1000)
        start = int(record.query.get("cursor") or 0)
    except ValueError:
        return finish(record, snap_error("limit and cursor must be integers"))
    if not 50 <= limit <= 1000:
        return finish(record, snap_error("limit must be between 50 and 1000"))
    campaigns = CAMPAIGNS.of("snapchat", account_id)
    page = campaigns[start : start + limit]
    answer: dict[str, Any] = {
        "request_status": "SUCCESS",
        "request_id": uuid.uuid4().hex,
        "paging": {},
        "campaigns": [
            {"sub_request_status": "SUCCESS", "campaign": {**c.body, "id": c.id}} for c in page
        ],
    }
    if start + limit < len(campaigns):
        base = str(request.url.remove_query_params(["cursor", "limit"]))
        answer["paging"]["next_link"] = f"{base}?cursor={start + limit}&limit={limit}"
    return finish(record, JSONResponse(answer))
