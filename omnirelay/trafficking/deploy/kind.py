"""The ``deploy`` delivery kind: one delivery per deploy task, one or more requests per
attempt (the platform client's steps), the ticket settled with the outcome."""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from omnirelay.crud import key_of
from omnirelay.delivery.claim import ClaimedDelivery
from omnirelay.delivery.kinds import DeliveryKind, Plan, ReadSession, WorkBatch
from omnirelay.delivery.recording import BatchRecord
from omnirelay.delivery.transports import Transport
from omnirelay.destinations.base import (
    DeliveryOutcome,
    HttpResult,
    Outcome,
    Prepared,
    PreparedRequest,
)
from omnirelay.models import (
    Campaign,
    Channel,
    Ticket,
    TicketStatus,
    TicketStatusHistory,
    table_of,
)
from omnirelay.redaction import scrub
from omnirelay.security import Vault, VaultError
from omnirelay.trafficking.credentials import credentials_for
from omnirelay.trafficking.deploy.task import KIND
from omnirelay.trafficking.platforms import client_for
from omnirelay.trafficking.platforms.base import (
    CampaignClient,
    Done,
    PlatformCredentials,
    Step,
    StepOutcome,
    Verdict,
)
from omnirelay.trafficking.tickets import draft_of
from omnirelay.trafficking.translators.base import CampaignDraft

ACTOR = "deploy"


@dataclass
class DeployItem:
    """One deploy in flight: what it creates, as whom, and the steps done so far."""

    delivery_id: int
    client: CampaignClient
    draft: CampaignDraft
    creds: PlatformCredentials
    outcomes: list[StepOutcome] = field(default_factory=list)
    step: Step | None = None


@dataclass
class DeployContext:
    """What settling needs: each delivery's ticket and the reason it ended as it did."""

    tickets: dict[int, uuid.UUID] = field(default_factory=dict)
    reasons: dict[int, str] = field(default_factory=dict)
    items: dict[int, DeployItem] = field(default_factory=dict)


class DeployKind(DeliveryKind):
    name = KIND

    def __init__(self, transport: Transport, vault: Vault) -> None:
        super().__init__(transport)
        self.vault = vault

    async def plan(self, deliveries: list[ClaimedDelivery], hint: Any, read: ReadSession) -> Plan:
        context = DeployContext()
        plan = Plan(context=context)
        by_ticket = {d.destination_key.removeprefix("ticket:"): d for d in deliveries}
        ids = [key_of(Ticket, key) for key in by_ticket]
        async with read() as session:
            rows = (
                await session.execute(
                    select(Ticket, Campaign, Channel)
                    .join(Campaign, Campaign.id == Ticket.campaign_id)
                    .join(Channel, Channel.id == Ticket.channel_id)
                    .where(Ticket.id.in_([i for i in ids if i is not None]))
                )
            ).all()
            found = {str(row[0].id): row for row in rows}
            for key, delivery in by_ticket.items():
                row = found.get(key)
                if row is None:
                    plan.decided[delivery.id] = (Outcome.PERMANENT.value, "ticket was deleted")
                    continue
                ticket, campaign, channel = row
                context.tickets[delivery.id] = ticket.id
                if ticket.deploy_task_id != delivery.subject_ref:
                    plan.decided[delivery.id] = ("skipped", "another deploy of the ticket followed")
                    continue
                if ticket.status != TicketStatus.READY_FOR_API.value:
                    reason = f"ticket is {ticket.status}, no longer READY_FOR_API"
                    plan.decided[delivery.id] = ("skipped", reason)
                    continue
                try:
                    client = client_for(channel.platform_name)
                except KeyError:
                    reason = f"no deploy client for platform {channel.platform_name!r}"
                    self._decide(plan, delivery, Outcome.PERMANENT, reason)
                    continue
                try:
                    values = await credentials_for(
                        session, self.vault, campaign.brand_id, campaign.market_id, client.platform
                    )
                except VaultError as exc:  # this deploy's problem alone: tried again later
                    self._decide(plan, delivery, Outcome.RETRY, str(exc))
                    continue
                if values is None:
                    reason = f"no active {client.platform} credentials for the campaign's brand"
                    self._decide(plan, delivery, Outcome.PERMANENT, reason)
                    continue
                # the further secrets (Google's developer token) beside the named fields
                flat = {**(values.get("secrets") or {}), **values}
                creds = PlatformCredentials.from_mapping(flat)
                item = DeployItem(
                    delivery.id,
                    client,
                    draft_of(ticket, campaign),
                    creds,
                )
                context.items[delivery.id] = item
                plan.batches.append(
                    WorkBatch(client.platform.lower(), [item], secrets=creds.secrets)
                )
        return plan

    @staticmethod
    def _decide(plan: Plan, delivery: ClaimedDelivery, outcome: Outcome, reason: str) -> None:
        plan.decided[delivery.id] = (outcome.value, reason)
        plan.context.reasons[delivery.id] = reason

    async def prepare(self, batch: WorkBatch) -> Prepared:
        item = batch.items[0]
        assert isinstance(item, DeployItem)
        # As if retried, always: a worker that dies after the platform created the campaign
        # records no attempt, and a redeploy after a failure is a new task; so every deploy
        # asks the platform for the campaign by its exact name first.
        step = item.client.next_step(item.draft, item.creds, item.outcomes, retried=True)
        if isinstance(step, Done):  # refused before sending (an invalid payload)
            item.outcomes.append(step.outcome)
            return Prepared(rejected=[step.delivery_outcome(item.delivery_id)])
        item.step = step
        request = dataclasses.replace(step.request, delivery_ids=[item.delivery_id])
        return Prepared(requests=[request])

    def classify(
        self, batch: WorkBatch, request: PreparedRequest, result: HttpResult
    ) -> list[DeliveryOutcome]:
        item = batch.items[0]
        assert isinstance(item, DeployItem) and item.step is not None
        outcome = item.client.classify(item.step, result)
        item.outcomes.append(outcome)
        if outcome.verdict == Verdict.CONTINUE:
            return [DeliveryOutcome(item.delivery_id, Outcome.NEXT_STEP)]
        return [Done(outcome).delivery_outcome(item.delivery_id)]

    def settle(
        self,
        session: Session,
        record: BatchRecord,
        deliveries: list[ClaimedDelivery],
        context: DeployContext | None,
    ) -> None:
        """The ticket of each deploy that ended: TRAFFICKED_SUCCESS with the platform's
        id, or FAILED with the reason. Only a ticket still READY_FOR_API under this deploy
        changes, so running this again changes nothing."""
        if context is None:
            return
        now = datetime.now(UTC)
        tickets, history = table_of(Ticket), table_of(TicketStatusHistory)
        for delivery in deliveries:
            ticket_id = context.tickets.get(delivery.id)
            state = record.state.get(delivery.id)
            if ticket_id is None or state not in ("delivered", "dead"):
                continue
            item = context.items.get(delivery.id)
            last = item.outcomes[-1] if item and item.outcomes else None
            if state == "delivered":
                platform_id = last.platform_id if last else None
                target, reason = TicketStatus.TRAFFICKED_SUCCESS, f"deployed as {platform_id}"
                values: dict[str, Any] = {"external_platform_id": platform_id}
            else:
                error = (last.reason if last else None) or context.reasons.get(delivery.id)
                # a platform's error text may quote the token it was sent
                error = scrub(error, item.creds.secrets) if item else error
                target, reason = TicketStatus.FAILED, error or "deploy failed"
                values = {"qa_failure_reason": reason}
            changed: CursorResult[Any] = session.execute(  # type: ignore[assignment]
                update(tickets)
                .where(
                    tickets.c.id == str(ticket_id),
                    tickets.c.status == TicketStatus.READY_FOR_API.value,
                    tickets.c.deploy_task_id == delivery.subject_ref,
                )
                .values(status=target.value, updated_at=now, **values)
            )
            if changed.rowcount:
                session.execute(
                    history.insert().values(
                        ticket_id=str(ticket_id),
                        from_status=TicketStatus.READY_FOR_API.value,
                        to_status=target.value,
                        changed_by=ACTOR,
                        changed_at=now,
                        reason=reason[:2000],
                    )
                )
