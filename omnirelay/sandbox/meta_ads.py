"""Fake Meta Marketing API campaigns edge: ``POST``/``GET /meta/{version}/act_{id}/campaigns``.

Create answers ``{"id": "<numeric id>"}``; a refusal is Graph's HTTP 400 error envelope
(code 100 for an invalid parameter, 190 for a missing token), as the CAPI fake answers.
The read honours ``filtering=[{"field":"name","operator":"EQUAL","value":...}]``,
``limit`` and the ``after`` cursor, and pages like Graph (``paging.cursors``, ``next``).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from omnirelay.sandbox.campaigns import CAMPAIGNS, StoredCampaign
from omnirelay.sandbox.core import SANDBOX, finish
from omnirelay.sandbox.meta import graph_error

router = APIRouter(prefix="/meta")
OBJECTIVES = frozenset(
    {"OUTCOME_APP_PROMOTION", "OUTCOME_AWARENESS", "OUTCOME_ENGAGEMENT", "OUTCOME_LEADS"}
    | {"OUTCOME_SALES", "OUTCOME_TRAFFIC"}
)
STATUSES = frozenset({"ACTIVE", "PAUSED"})


def _invalid(message: str) -> Response:
    return graph_error(f"(#100) {message}", code=100)


def _throttled() -> Response:
    """Graph's ads-management rate limit: HTTP 400, code 80004 (business use case)."""
    message = (
        "(#80004) There have been too many calls to this ad-account. Wait a bit and try again."
    )
    return graph_error(message, code=80004, subcode=2446079)


def _token(request: Request) -> str | None:
    bearer = request.headers.get("authorization", "")
    if bearer.lower().startswith("bearer ") and bearer[7:].strip():
        return bearer[7:].strip()
    return request.query_params.get("access_token")


def _problem(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "The request body must be a JSON object"
    if not body.get("name"):
        return "The parameter name is required"
    if body.get("objective") not in OBJECTIVES:
        return f"Param objective must be one of {{{', '.join(sorted(OBJECTIVES))}}}"
    if "status" in body and body["status"] not in STATUSES:
        return "Param status must be one of {ACTIVE, PAUSED}"
    if not isinstance(body.get("special_ad_categories"), list):
        return "The parameter special_ad_categories is required"
    for key in ("daily_budget", "lifetime_budget"):
        value = body.get(key)
        if value is not None and (not isinstance(value, int) or value <= 0):
            return f"Param {key} must be a positive integer"
    return None


@router.post("/{version}/act_{account_id}/campaigns")
async def create_campaign(version: str, account_id: str, request: Request) -> Response:
    record, fault = await SANDBOX.receive("meta", request, _invalid, _throttled)
    if fault is not None:
        return fault
    if not _token(request):
        return finish(record, graph_error("An access token is required.", code=190))
    problem = _problem(record.body)
    if problem is not None:
        return finish(record, _invalid(problem))
    campaign_id = f"1202{CAMPAIGNS.next_number():011d}"
    CAMPAIGNS.add(StoredCampaign("meta", account_id, campaign_id, record.body["name"], record.body))
    return CAMPAIGNS.after_create("meta", record, JSONResponse({"id": campaign_id}))


@router.get("/{version}/act_{account_id}/campaigns")
async def read_campaigns(version: str, account_id: str, request: Request) -> Response:
    record, fault = await SANDBOX.receive("meta", request, _invalid, _throttled)
    if fault is not None:
        return fault
    if not _token(request):
        return finish(record, graph_error("An access token is required.", code=190))
    campaigns = CAMPAIGNS.of("meta", account_id)
    try:
        rules = json.loads(record.query.get("filtering") or "[]")
        limit = int(record.query.get("limit") or 25)
        start = int(record.query.get("after") or 0)
    except ValueError:
        return finish(record, _invalid("Param filtering, limit or after is malformed"))
    for rule in rules if isinstance(rules, list) else []:
        if (
            isinstance(rule, dict)
            and rule.get("field") == "name"
            and rule.get("operator") == "EQUAL"
        ):
            campaigns = [c for c in campaigns if c.name == rule.get("value")]
    page = campaigns[start : start + limit]
    answer: dict[str, Any] = {"data": [{"id": c.id, "name": c.name} for c in page]}
    if page:
        answer["paging"] = {"cursors": {"before": str(start), "after": str(start + len(page))}}
        if start + len(page) < len(campaigns):
            answer["paging"]["next"] = (
                f"{request.url.remove_query_params('after')}&after={start + len(page)}"
            )
    return finish(record, JSONResponse(answer))
