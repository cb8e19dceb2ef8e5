"""The messaging API: POST /events (seed 003), GET /audit/{user_id}, rule reloads."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Query, Request

from omnirelay.db import run_transaction
from omnirelay.deps import DbSession
from omnirelay.errors import COMMON_ERRORS, InvalidInput, error_responses
from omnirelay.input_types import Limit, Offset, UtcDatetime
from omnirelay.messaging import ingest
from omnirelay.messaging.audit import user_audit
from omnirelay.messaging.holder import RulesHolder
from omnirelay.messaging.rules import RuleSet, RulesFileError
from omnirelay.messaging.schemas import AuditOut, DecisionOut, EventIn, RulesLoaded
from omnirelay.relay.ingest_endpoints import read_limited_body, require_json_media_type
from omnirelay.security import Principal, require

router = APIRouter(tags=["messaging"], responses=error_responses(*COMMON_ERRORS))
admin_router = APIRouter(
    prefix="/admin/v1/messaging", tags=["messaging"], responses=error_responses(*COMMON_ERRORS)
)
# the bodies the routes read themselves, for the OpenAPI document (see omnirelay.surface)
RAW_BODIES = {("post", "/events"): EventIn, ("post", "/events/"): EventIn}
# One event is small; a body this large is a mistake or an attack.
MAX_EVENT_BYTES = 1024 * 1024


async def post_event(
    request: Request, principal: Annotated[Principal, require("ingest")]
) -> DecisionOut:
    """Store a behavioural event, decide it against the messaging rules and answer the
    decision (committed first). The same event posted again (same ``client_event_id``, or
    same user, type, timestamp and properties) answers the first decision and sends
    nothing more. A key limited to some storefronts may post only for those."""
    # The decision is a dozen small statements in one transaction: it runs as one unit of
    # work (``db.run_transaction``), on SQLite in a single hop to the writer thread, and
    # commits before the answer like every request's transaction.
    state = request.app.state
    settings = state.settings
    require_json_media_type(request.headers.get("content-type"))
    body = await read_limited_body(request, min(MAX_EVENT_BYTES, settings.max_request_body_bytes))
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput([{"field": "body", "reason": f"invalid JSON: {exc}"}]) from None
    event = ingest.parse_event(document)
    now = state.clock()
    tolerance = settings.event_time_future_tolerance_seconds
    if event.event_timestamp > now + timedelta(seconds=tolerance):
        raise InvalidInput(
            [
                {
                    "field": "event_timestamp",
                    "reason": f"is in the future; at most {tolerance:g} s ahead of omnirelay's "
                    "clock is accepted (EVENT_TIME_FUTURE_TOLERANCE_SECONDS)",
                }
            ]
        )
    rules: RuleSet = state.rules.current
    decision, new = await run_transaction(
        state.sessionmaker,
        lambda session: ingest.post_event(
            session, rules, event, body, principal, settings.messaging_default_storefront, now
        ),
    )
    if new:
        state.wake_worker()
    return decision


for _path, _name in (("/events", "post_event"), ("/events/", "post_event_slash")):
    # Both, as the seed writes it, and neither redirects to the other.
    router.add_api_route(
        _path,
        post_event,
        methods=["POST"],
        response_model=DecisionOut,
        name=_name,
        operation_id=_name,
        responses=error_responses(403, 409, 413, 415),
    )


@router.get("/audit/{user_id}", response_model=AuditOut)
async def audit(
    user_id: str,
    principal: Annotated[Principal, require("read")],
    session: DbSession,
    limit: Limit = 50,
    offset: Offset = 0,
    since: Annotated[UtcDatetime | None, Query(description="decided at or after")] = None,
    until: Annotated[UtcDatetime | None, Query(description="decided before")] = None,
    event_type: str | None = None,
    rule: Annotated[str | None, Query(description="the matched rule's name")] = None,
    outcome: Literal["allow", "suppress", "none"] | None = None,
    reason_code: str | None = None,
    storefront_id: Annotated[str | None, Query(description="a storefront code")] = None,
) -> AuditOut:
    """Every decision made for the user, newest first: what matched, what was sent,
    suppressed or held, and why."""
    return await user_audit(
        session,
        user_id,
        limit=limit,
        offset=offset,
        since=since,
        until=until,
        event_type=event_type,
        rule=rule,
        outcome=outcome,
        reason_code=reason_code,
        storefront=storefront_id,
        allowed_storefronts=principal.storefronts,
    )


def _loaded(rules: RuleSet) -> RulesLoaded:
    return RulesLoaded(
        version=rules.version,
        rules=len(rules.rules),
        enabled=sum(1 for rule in rules.rules if rule.enabled),
        source=rules.source,
    )


@admin_router.get("/rules", response_model=RulesLoaded, dependencies=[require("read")])
async def current_rules(request: Request) -> RulesLoaded:
    """The rules decisions are made with now."""
    holder: RulesHolder = request.app.state.rules
    return _loaded(holder.current)


@admin_router.post(
    "/rules/reload",
    response_model=RulesLoaded,
    dependencies=[require("admin")],
    responses=error_responses(422),
)
async def reload_rules(request: Request) -> RulesLoaded:
    """Load the rules file again, without a restart. A file with problems is a 422 listing
    each (rule, field, problem), and the rules in use stay as they were."""
    holder: RulesHolder = request.app.state.rules
    try:
        rules = await asyncio.to_thread(holder.reload)
    except RulesFileError as exc:
        raise InvalidInput(
            [{"rule": p.where, "field": p.field, "problem": p.message} for p in exc.problems],
            code="rules_invalid",
        ) from None
    return _loaded(rules)
