"""Claiming due deliveries: one small function per dialect.

A claim sets ``status = in_flight`` and pushes ``next_attempt_at`` to the lease expiry, so
a row whose worker died becomes due again when the lease runs out, with no sweeper.
The claim transaction is short and never spans an HTTP call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from omnirelay.models import DeliveryStatus, EventDelivery, table_of
from omnirelay.models.base import utcnow

_CLAIMABLE = (DeliveryStatus.PENDING.value, DeliveryStatus.IN_FLIGHT.value)


@dataclass(slots=True, frozen=True)
class ClaimedDelivery:
    """What the engine needs of a claimed delivery (plain values, no ORM identity)."""

    id: int
    event_id: int
    storefront_id: int
    destination_type: str
    destination_code: str
    destination_key: str
    sgtm_config_id: int | None
    credential_id: int | None
    attempt_count: int


_COLUMNS = tuple(table_of(EventDelivery).c[name] for name in ClaimedDelivery.__slots__)


def _claimed(rows: Any) -> list[ClaimedDelivery]:
    return [ClaimedDelivery(*row) for row in rows]


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
) -> list[ClaimedDelivery]:
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
) -> list[ClaimedDelivery]:
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
        .returning(*_COLUMNS)
        .execution_options(synchronize_session=False)
    )
    return _claimed(await session.execute(statement))


async def _claim_mysql(
    session: AsyncSession, worker_id: str, limit: int, now: datetime, lease_until: datetime
) -> list[ClaimedDelivery]:
    # MySQL has no UPDATE ... RETURNING: lock the rows with SKIP LOCKED, then update them.
    claimed = _claimed(
        await session.execute(
            select(*_COLUMNS)
            .where(_due(now))
            .order_by(EventDelivery.next_attempt_at, EventDelivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if claimed:
        await session.execute(
            update(EventDelivery)
            .where(EventDelivery.id.in_([d.id for d in claimed]))
            .values(_claim_values(worker_id, lease_until, now))
            .execution_options(synchronize_session=False)
        )
    return claimed


async def _claim_sqlite(
    session: AsyncSession, worker_id: str, limit: int, now: datetime, lease_until: datetime
) -> list[ClaimedDelivery]:
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
        .returning(*_COLUMNS)
        .execution_options(synchronize_session=False)
    )
    return _claimed(await session.execute(statement))
