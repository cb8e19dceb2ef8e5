"""Claiming due deliveries: one small function per dialect.

A claim sets ``status = in_flight`` and pushes ``next_attempt_at`` to the lease expiry, so
a row whose worker died becomes due again when the lease runs out, with no sweeper.
The claim transaction is short and never spans an HTTP call.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from omnirelay.models import DeliveryStatus, EventDelivery
from omnirelay.models.base import utcnow

_CLAIMABLE = (DeliveryStatus.PENDING.value, DeliveryStatus.IN_FLIGHT.value)


def _due(now: datetime) -> ColumnElement[bool]:
    return and_(EventDelivery.status.in_(_CLAIMABLE), EventDelivery.next_attempt_at <= now)


def _claim_values(worker_id: str, lease_until: datetime, now: datetime) -> dict[str, object]:
    return {
        "status": DeliveryStatus.IN_FLIGHT.value,
        "claimed_by": worker_id,
        "lease_expires_at": lease_until,
        "next_attempt_at": lease_until,
        "updated_at": now,
    }


async def claim_due_deliveries(
    session: AsyncSession, worker_id: str, limit: int, lease_seconds: float
) -> list[EventDelivery]:
    now = utcnow()
    lease_until = now + timedelta(seconds=lease_seconds)
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return await _claim_postgresql(session, worker_id, limit, now, lease_until)
    if dialect in ("mysql", "mariadb"):
        return await _claim_mysql(session, worker_id, limit, now, lease_until)
    return await _claim_sqlite(session, worker_id, limit, now, lease_until)


async def _claim_postgresql(
    session: AsyncSession, worker_id: str, limit: int, now: datetime, lease_until: datetime
) -> list[EventDelivery]:
    due = (
        select(EventDelivery.id)
        .where(_due(now))
        .order_by(EventDelivery.next_attempt_at, EventDelivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    statement = (
        update(EventDelivery)
        .where(EventDelivery.id.in_(due))
        .values(_claim_values(worker_id, lease_until, now))
        .returning(EventDelivery)
        .execution_options(synchronize_session=False)
    )
    return list((await session.execute(statement)).scalars().all())


async def _claim_mysql(
    session: AsyncSession, worker_id: str, limit: int, now: datetime, lease_until: datetime
) -> list[EventDelivery]:
    # MySQL has no UPDATE ... RETURNING: lock the ids with SKIP LOCKED, then update them.
    ids = list(
        (
            await session.execute(
                select(EventDelivery.id)
                .where(_due(now))
                .order_by(EventDelivery.next_attempt_at, EventDelivery.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).scalars()
    )
    if not ids:
        return []
    await session.execute(
        update(EventDelivery)
        .where(EventDelivery.id.in_(ids))
        .values(_claim_values(worker_id, lease_until, now))
        .execution_options(synchronize_session=False)
    )
    rows = await session.execute(
        select(EventDelivery)
        .where(EventDelivery.id.in_(ids))
        .execution_options(populate_existing=True)
    )
    return list(rows.scalars().all())


async def _claim_sqlite(
    session: AsyncSession, worker_id: str, limit: int, now: datetime, lease_until: datetime
) -> list[EventDelivery]:
    # SQLite has one writer at a time: the UPDATE itself is the lock.
    due = (
        select(EventDelivery.id)
        .where(_due(now))
        .order_by(EventDelivery.next_attempt_at, EventDelivery.id)
        .limit(limit)
        .scalar_subquery()
    )
    statement = (
        update(EventDelivery)
        .where(EventDelivery.id.in_(due))
        .values(_claim_values(worker_id, lease_until, now))
        .returning(EventDelivery)
        .execution_options(synchronize_session=False)
    )
    return list((await session.execute(statement)).scalars().all())
