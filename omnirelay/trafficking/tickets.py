"""Trafficking tickets: created for a campaign on one channel, moved through the workflow
(``omnirelay.trafficking.workflow``) with every change kept in the history, and checked by
QA on the way to READY_FOR_API.

A ticket's ``deployed_name`` is its campaign's taxonomy name with the ticket's channel (a
campaign spanning channels is ``MULTI`` itself); it is held in ``campaign_names`` like the
campaign's own, so no other campaign can take it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from omnirelay.crud import Ref, get_or_404, paginate, to_out, where_given
from omnirelay.errors import Conflict, InvalidInput
from omnirelay.models import (
    Brand,
    Campaign,
    CampaignName,
    Channel,
    Market,
    Ticket,
    TicketStatus,
    TicketStatusHistory,
)
from omnirelay.trafficking import schemas as s
from omnirelay.trafficking import workflow
from omnirelay.trafficking.deploy.task import end_open_deploy, open_deploy
from omnirelay.trafficking.qa import check_ticket
from omnirelay.trafficking.service import (
    CampaignParts,
    DuplicateName,
    generate_name,
    referenced,
    reserve_name,
)
from omnirelay.trafficking.taxonomy import Taxonomy
from omnirelay.trafficking.translators.base import CampaignDraft

S = TicketStatus
_CONTENT = ("request_type", "payload_config", "start_date", "end_date")


def ticket_out(ticket: Ticket) -> s.TicketOut:
    allowed = [S(v) for v in workflow.allowed_next(ticket.status)]
    return to_out(s.TicketOut, ticket, allowed_next=allowed)


async def get_ticket(session: AsyncSession, ref: Ref, for_update: bool = False) -> Ticket:
    """The ticket; ``for_update`` when it changes, so queueing its deploy waits for us."""
    return await get_or_404(session, Ticket, ref, what="ticket", for_update=for_update)


async def list_tickets(
    session: AsyncSession,
    *,
    limit: int,
    offset: int,
    campaign_id: uuid.UUID | None,
    channel_id: uuid.UUID | None,
    status: str | None,
    request_type: str | None,
) -> tuple[list[Ticket], int]:
    statement = select(Ticket).order_by(Ticket.created_at, Ticket.id)
    statement = where_given(
        statement,
        (Ticket.campaign_id, campaign_id),
        (Ticket.channel_id, channel_id),
        (Ticket.status, status),
        (Ticket.request_type, request_type),
    )
    return await paginate(session, statement, limit, offset)


async def history(
    session: AsyncSession, ref: Ref, *, limit: int, offset: int
) -> tuple[list[TicketStatusHistory], int]:
    ticket = await get_ticket(session, ref)
    statement = (
        select(TicketStatusHistory)
        .where(TicketStatusHistory.ticket_id == ticket.id)
        .order_by(TicketStatusHistory.id)
    )
    return await paginate(session, statement, limit, offset)


async def _deployed_name(
    session: AsyncSession, taxonomy: Taxonomy, campaign: Campaign, channel: Channel
) -> str:
    if campaign.channel_id is not None:
        if campaign.channel_id != channel.id:
            own = await session.get_one(Channel, campaign.channel_id)
            raise InvalidInput(
                [
                    {
                        "field": "channel_id",
                        "reason": f"campaign {campaign.name!r} is for channel "
                        f"{own.platform_name!r} only",
                    }
                ]
            )
        return campaign.name
    parts = CampaignParts(
        await session.get_one(Brand, campaign.brand_id),
        await session.get_one(Market, campaign.market_id),
        None,
    )
    return generate_name(taxonomy, parts, campaign.campaign_name, campaign.year, channel).name


async def create_ticket(
    session: AsyncSession, body: s.TicketCreate, taxonomy: Taxonomy, actor: str
) -> Ticket:
    campaign = await referenced(session, Campaign, "campaign_id", body.campaign_id)
    channel = await referenced(session, Channel, "channel_id", body.channel_id)
    deployed_name = await _deployed_name(session, taxonomy, campaign, channel)
    holder = await session.get(CampaignName, taxonomy.key(deployed_name))
    if holder is None:
        await reserve_name(session, taxonomy, deployed_name, campaign.id)
    elif holder.campaign_id != campaign.id:
        raise DuplicateName(
            f"{deployed_name!r}, this ticket's name on {channel.platform_name}, is the name "
            f"of campaign {holder.campaign_id}"
        )
    _check_dates(body.start_date, body.end_date)
    ticket = Ticket(
        id=uuid.uuid4(),
        campaign_id=campaign.id,
        channel_id=channel.id,
        request_type=body.request_type,
        payload_config=body.payload_config,
        start_date=body.start_date,
        end_date=body.end_date,
        status=S.DRAFT.value,
        deployed_name=deployed_name,
    )
    session.add(ticket)
    await session.flush()
    _record(session, ticket, None, S.DRAFT, actor, body.reason)
    if body.status == S.QA_TESTING:
        await move(session, ticket, S.QA_TESTING, taxonomy, actor, body.reason)
    await session.flush()
    return ticket


def _check_dates(start: date | None, end: date | None) -> None:
    if start is not None and end is not None and end < start:
        raise InvalidInput([{"field": "end_date", "reason": "is before start_date"}])


def _record(
    session: AsyncSession,
    ticket: Ticket,
    from_status: S | None,
    to_status: S,
    actor: str,
    reason: str | None,
) -> None:
    session.add(
        TicketStatusHistory(
            ticket_id=ticket.id,
            from_status=from_status.value if from_status else None,
            to_status=to_status.value,
            changed_by=actor[:100],
            changed_at=datetime.now(UTC),
            reason=reason,
        )
    )


def set_status(
    session: AsyncSession, ticket: Ticket, target: S, actor: str, reason: str | None
) -> None:
    """Move ``ticket`` along the workflow's graph (any actor: QA, the deploy, a client whose
    request ``move`` has allowed), with its history row."""
    current = S(ticket.status)
    if target not in workflow.TRANSITIONS[current]:
        allowed = ", ".join(sorted(s.value for s in workflow.TRANSITIONS[current])) or "none"
        raise Conflict(f"a {current.value} ticket cannot become {target.value} (next: {allowed})")
    if current in (S.QA_FAILED, S.FAILED):
        ticket.qa_failure_reason = None  # it described the failure being left
    ticket.status = target.value
    ticket.updated_at = datetime.now(UTC)
    _record(session, ticket, current, target, actor, reason)


async def move(
    session: AsyncSession,
    ticket: Ticket,
    target: S,
    taxonomy: Taxonomy,
    actor: str,
    reason: str | None = None,
) -> None:
    """A client's move: 409 naming the allowed next states when the workflow forbids it.
    Moving to QA_TESTING runs QA, which moves the ticket on to QA_FAILED or READY_FOR_API."""
    if not workflow.may_move(ticket.status, target.value):
        allowed = workflow.allowed_next(ticket.status)
        raise Conflict(
            f"ticket is {ticket.status}; it can move to "
            f"{', '.join(allowed) if allowed else 'no other status'}, not {target.value}"
        )
    if ticket.status == S.READY_FOR_API:  # pulled back by hand: its queued deploy ends
        await end_open_deploy(session, ticket, f"ticket moved to {target.value} by {actor}")
    set_status(session, ticket, target, actor, reason)
    if target == S.QA_TESTING:
        await run_qa(session, ticket, taxonomy)


async def run_qa(session: AsyncSession, ticket: Ticket, taxonomy: Taxonomy) -> None:
    campaign = await session.get_one(Campaign, ticket.campaign_id)
    channel = await session.get_one(Channel, ticket.channel_id)
    problems = check_ticket(
        draft_of(ticket, campaign),
        platform=channel.platform_name,
        campaign_name=campaign.name,
        taxonomy=taxonomy,
        today=datetime.now(UTC).date(),
    )
    if problems:
        set_status(session, ticket, S.QA_FAILED, "qa", f"{len(problems)} problem(s)")
        ticket.qa_failure_reason = "\n".join(str(problem) for problem in problems)
    else:
        set_status(session, ticket, S.READY_FOR_API, "qa", "every check passed")


def draft_of(ticket: Ticket, campaign: Campaign) -> CampaignDraft:
    """What the ticket asks its platform to create (the translators' input)."""
    return CampaignDraft(
        ticket_id=str(ticket.id),
        campaign_id=str(campaign.id),
        campaign_name=ticket.deployed_name,
        budget=Decimal(campaign.budget),
        currency=campaign.currency,
        request_type=ticket.request_type,
        payload_config=dict(ticket.payload_config or {}),
        start_date=ticket.start_date,
        end_date=ticket.end_date,
    )


async def update_ticket(
    session: AsyncSession, ref: Ref, body: s.TicketUpdate, taxonomy: Taxonomy, actor: str
) -> Ticket:
    ticket = await get_ticket(session, ref, for_update=True)
    sent = body.model_fields_set
    target = body.status
    problems = []
    if body.external_platform_id is not None and target != S.TRAFFICKED_SUCCESS:
        problems.append(
            {"field": "external_platform_id", "reason": "only with status TRAFFICKED_SUCCESS"}
        )
    if body.qa_failure_reason is not None and target != S.FAILED:
        problems.append({"field": "qa_failure_reason", "reason": "only with status FAILED"})
    if target == S.TRAFFICKED_SUCCESS and body.external_platform_id is None:
        problems.append(
            {"field": "external_platform_id", "reason": "required to record a trafficked ticket"}
        )
    if problems:
        raise InvalidInput(problems)
    # a null clears a date; the payload and request type are never null
    content = [
        name
        for name in _CONTENT
        if name in sent and (getattr(body, name) is not None or name.endswith("_date"))
    ]
    if content and target == S.DRAFT and S(ticket.status) not in workflow.EDITABLE:
        await move(session, ticket, S.DRAFT, taxonomy, actor, body.reason)
        target = None
    if content:
        if S(ticket.status) not in workflow.EDITABLE:
            raise Conflict(
                f"ticket is {ticket.status}; {', '.join(content)} can change in "
                f"{', '.join(s.value for s in workflow.EDITABLE)} only (move it to DRAFT first)"
            )
        for name in content:
            setattr(ticket, name, getattr(body, name))
        _check_dates(ticket.start_date, ticket.end_date)
    if target is not None and target.value != ticket.status:
        await move(session, ticket, target, taxonomy, actor, body.reason)
        if target == S.TRAFFICKED_SUCCESS:
            ticket.external_platform_id = body.external_platform_id
        elif target == S.FAILED:
            ticket.qa_failure_reason = body.qa_failure_reason
    await session.flush()
    return ticket


async def delete_ticket(session: AsyncSession, ref: Ref) -> None:
    ticket = await get_ticket(session, ref, for_update=True)
    if ticket.status == S.TRAFFICKED_SUCCESS:
        raise Conflict(
            f"ticket is TRAFFICKED_SUCCESS: the platform holds campaign "
            f"{ticket.external_platform_id}; the ticket is its record"
        )
    task_id = await open_deploy(session, ticket)
    if task_id is not None:
        raise Conflict(
            f"ticket's deploy task {task_id} is queued or running; the ticket is its record "
            "(move the ticket to DRAFT to cancel a queued deploy, then delete it)"
        )
    await session.delete(ticket)
    await session.flush()
