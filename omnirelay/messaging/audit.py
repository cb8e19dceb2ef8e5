"""GET /audit/{user_id}: a user's decisions, newest first, as the growth and CX teams read
them ("why did this user not get the message?")."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from omnirelay.crud import paginate
from omnirelay.messaging.schemas import AuditDecision, AuditOut
from omnirelay.models import MessageDecision, Storefront


async def user_audit(
    session: AsyncSession,
    user_id: str,
    *,
    limit: int,
    offset: int,
    since: datetime | None = None,
    until: datetime | None = None,
    event_type: str | None = None,
    rule: str | None = None,
    outcome: str | None = None,
    reason_code: str | None = None,
    storefront: str | None = None,
    allowed_storefronts: Collection[str] | None = None,
) -> AuditOut:
    """``since``/``until``: decided at or after / before. ``allowed_storefronts``: the codes
    a key limited to some storefronts may read (None: all)."""
    statement = select(MessageDecision).where(MessageDecision.user_id == user_id)
    codes = None if allowed_storefronts is None else set(allowed_storefronts)
    if storefront is not None:
        codes = {storefront} if codes is None else codes & {storefront}
    if codes is not None:
        ids = select(Storefront.id).where(Storefront.code.in_(sorted(codes)))
        statement = statement.where(MessageDecision.storefront_id.in_(ids))
    if since is not None:
        statement = statement.where(MessageDecision.decided_at >= since)
    if until is not None:
        statement = statement.where(MessageDecision.decided_at < until)
    if event_type is not None:
        statement = statement.where(MessageDecision.event_type == event_type)
    if rule is not None:
        statement = statement.where(MessageDecision.rule == rule)
    if outcome is not None:
        statement = statement.where(MessageDecision.outcome == outcome)
    if reason_code is not None:
        statement = statement.where(MessageDecision.reason_code == reason_code)
    statement = statement.order_by(MessageDecision.decided_at.desc(), MessageDecision.id.desc())
    records, total = await paginate(session, statement, limit, offset)
    return AuditOut(
        user_id=user_id,
        decisions=[
            AuditDecision(
                event_id=r.event_id,
                storefront_id=r.storefront_id,
                event_type=r.event_type,
                event_timestamp=r.event_timestamp,
                matched_rule=r.rule,
                action_type=r.action_type,
                template_name=r.template_name,
                channel=r.channel,
                outcome=r.outcome,
                reason_code=r.reason_code,
                reason=r.reason,
                decision_timestamp=r.decided_at,
                scheduled_for=r.scheduled_for,
                rules_version=r.rules_version,
            )
            for r in records
        ],
        total=total,
        limit=limit,
        offset=offset,
    )
