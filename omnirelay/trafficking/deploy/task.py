"""A deploy task is a delivery of kind ``deploy``: its ``subject_ref`` is the task id, its
``destination_key`` the ticket. What the ticket workflow needs to know about it lives here,
so tickets need not import the delivery kind (which imports them)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from omnirelay.errors import Conflict
from omnirelay.models import Delivery, DeliveryStatus, Ticket

KIND = "deploy"
OPEN = (DeliveryStatus.PENDING.value, DeliveryStatus.IN_FLIGHT.value)  # queued or running


def ticket_key(ticket_id: uuid.UUID | str) -> str:
    """A deploy delivery's ``destination_key``: the ticket it deploys."""
    return f"ticket:{ticket_id}"


def of_task(task_id: str) -> ColumnElement[bool]:
    """The delivery that is deploy task ``task_id``."""
    return (Delivery.kind == KIND) & (Delivery.subject_ref == task_id)


async def task_status(session: AsyncSession, task_id: str | None) -> str | None:
    if task_id is None:
        return None
    found = await session.execute(select(Delivery.status).where(of_task(task_id)))
    return found.scalar_one_or_none()


async def end_open_deploy(session: AsyncSession, ticket: Ticket, why: str) -> str | None:
    """Cancel the ticket's deploy while it is only queued (or waiting to retry, or held by
    a worker whose lease ran out); returns the cancelled task's id. A deploy a worker is
    sending now cannot be taken back: 409, naming the task. The update is conditional, so
    a worker claiming the task at the same moment and this cancel cannot both win."""
    task_id = ticket.deploy_task_id
    if task_id is None:
        return None
    now = datetime.now(UTC)
    waiting = or_(
        Delivery.status == DeliveryStatus.PENDING.value,
        (Delivery.status == DeliveryStatus.IN_FLIGHT.value) & (Delivery.lease_expires_at < now),
    )
    cancelled = await session.execute(
        update(Delivery)
        .where(of_task(task_id), waiting)
        .values(
            status=DeliveryStatus.SKIPPED.value,
            last_error=f"cancelled: {why}"[:2000],
            lease_expires_at=None,
            claimed_by=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if cancelled.rowcount:  # type: ignore[attr-defined]
        return task_id
    if await task_status(session, task_id) == DeliveryStatus.IN_FLIGHT.value:
        raise Conflict(
            f"ticket's deploy task {task_id} is running on a worker now; wait for its "
            f"outcome (GET /api/v1/deploy/status/{task_id})"
        )
    return None


async def open_deploy(session: AsyncSession, ticket: Ticket) -> str | None:
    """The id of the ticket's deploy task while it is queued, waiting or running."""
    status = await task_status(session, ticket.deploy_task_id)
    return ticket.deploy_task_id if status in OPEN else None
