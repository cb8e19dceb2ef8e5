"""Queueing a deploy and reading its task: the delivery row is the task."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from omnirelay.deps import ReadScope
from omnirelay.errors import NotFound, OmniRelayError
from omnirelay.models import Channel, Delivery, DeliveryStatus, Ticket, TicketStatus
from omnirelay.trafficking.deploy.schemas import DeployQueued, DeployStatus
from omnirelay.trafficking.deploy.task import KIND, OPEN, of_task, ticket_key
from omnirelay.trafficking.translators import translator_for

DISPLAY_NAMES = {
    "META": "Meta",
    "TIKTOK": "TikTok",
    "SNAPCHAT": "Snapchat",
    "PINTEREST": "Pinterest",
    "GOOGLE_ADS": "Google Ads",
}
FINISHED = frozenset({"SUCCESS", "FAILURE"})
WAIT_INTERVAL_SECONDS = 0.25


class NotReadyForDeploy(OmniRelayError):
    status_code = 400  # as the seed answers a ticket in the wrong status
    code = "ticket_not_ready"


def display_name(platform_name: str) -> str:
    try:
        platform = translator_for(platform_name).platform
    except KeyError:
        return platform_name
    return DISPLAY_NAMES.get(platform, platform_name)


async def _task(session: AsyncSession, task_id: str | None) -> Delivery | None:
    if task_id is None:
        return None
    return (await session.execute(select(Delivery).where(of_task(task_id)))).scalar_one_or_none()


async def queue_deploy(session: AsyncSession, ticket_id: uuid.UUID) -> DeployQueued:
    """The deploy task of a READY_FOR_API ticket, written in the caller's transaction. A
    ticket whose deploy is still queued or running gets that task back, not a second one
    (two deploys of one ticket would race to create the campaign twice)."""
    ticket = await session.get(Ticket, ticket_id, with_for_update=True)
    if ticket is None:
        raise NotFound(f"ticket {ticket_id} not found")
    channel = await session.get_one(Channel, ticket.channel_id)
    message = f"Deployment queued for platform: {display_name(channel.platform_name)}"
    current = await _task(session, ticket.deploy_task_id)
    if current is not None and current.status in OPEN:
        task_id = current.subject_ref or ""
        return DeployQueued(task_id=task_id, ticket_id=str(ticket.id), message=message)
    if ticket.status != TicketStatus.READY_FOR_API.value:
        raise NotReadyForDeploy(
            f"ticket is {ticket.status}; only a READY_FOR_API ticket can be deployed"
        )
    task_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    session.add(
        Delivery(
            kind=KIND,
            subject_ref=task_id,
            storefront_id=None,
            destination_type="ad_platform",
            destination_code=channel.platform_name.lower()[:50],
            destination_key=ticket_key(ticket.id),
            status=DeliveryStatus.PENDING.value,
            next_attempt_at=now,
        )
    )
    ticket.deploy_task_id = task_id
    await session.flush()
    return DeployQueued(task_id=task_id, ticket_id=str(ticket.id), message=message)


async def deploy_status(session: AsyncSession, task_id: str) -> DeployStatus:
    task = await _task(session, task_id)
    if task is None:
        raise NotFound(f"deploy task {task_id} not found")
    ticket_id = task.destination_key.removeprefix("ticket:")
    result: dict[str, object] | None = None
    next_at = None
    if task.status == DeliveryStatus.DELIVERED.value:
        status = "SUCCESS"
        found = task.result if isinstance(task.result, dict) else {}
        result = {"status": "success", "external_platform_id": found.get("external_platform_id")}
    elif task.status in (DeliveryStatus.DEAD.value, DeliveryStatus.SKIPPED.value):
        status = "FAILURE"
        result = {"status": "failed", "error": task.last_error}
    elif task.status == DeliveryStatus.IN_FLIGHT.value:
        status = "STARTED"
    elif task.attempt_count:
        status, next_at = "RETRY", task.next_attempt_at
        result = {"status": "retry", "error": task.last_error}
    else:
        status = "PENDING"
    return DeployStatus(
        task_id=task_id,
        ticket_id=ticket_id,
        status=status,
        result=result,
        attempts=task.attempt_count,
        next_attempt_at=next_at,
    )


async def wait_for_status(scopes: ReadScope, task_id: str, wait: float) -> DeployStatus:
    """The task's status once it has finished, or after ``wait`` seconds, whichever comes
    first (a long poll: one request instead of many). Each look is a read-only scope of
    its own, so no snapshot goes stale and nothing is held while waiting."""
    deadline = time.monotonic() + wait
    while True:
        async with scopes() as session:
            current = await deploy_status(session, task_id)
        left = deadline - time.monotonic()
        if current.status in FINISHED or left <= 0:
            return current
        await asyncio.sleep(min(WAIT_INTERVAL_SECONDS, left))
