"""Claiming due deliveries, with ``FOR UPDATE SKIP LOCKED`` where the database has it.

A claim sets ``status = in_flight`` and pushes ``next_attempt_at`` to the lease expiry, so
a row whose worker died becomes due again when the lease runs out, with no sweeper.
The claim transaction is short and never spans an HTTP call.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, and_, select, update
from sqlalchemy.orm import Session

from omnirelay.db import id_in
from omnirelay.models import Delivery, DeliveryStatus, table_of

_CLAIMABLE = (DeliveryStatus.PENDING.value, DeliveryStatus.IN_FLIGHT.value)


class ClaimedDelivery(NamedTuple):
    """What the engine needs of a claimed delivery (plain values, no ORM identity; a
    tuple, so a thousand rows of a batch are built at C speed)."""

    id: int
    kind: str
    event_id: int | None  # the subject, when it is an event
    subject_ref: str | None  # the subject, when it is not (a ticket)
    storefront_id: int | None  # none for work that is not a storefront's (a deploy)
    destination_type: str
    destination_code: str
    destination_key: str
    sgtm_config_id: int | None
    credential_id: int | None
    attempt_count: int
    attempt_base: int  # attempt_count at the last replay: the retry budget counts from here


COLUMNS = tuple(table_of(Delivery).c[name] for name in ClaimedDelivery._fields)


@dataclass(slots=True, frozen=True)
class Lease:
    """Who holds a claim and until when."""

    worker_id: str
    until: datetime

    @classmethod
    def starting(cls, worker_id: str, now: datetime, seconds: float) -> Lease:
        return cls(worker_id, now + timedelta(seconds=seconds))

    def claim_values(self, now: datetime) -> dict[str, object]:
        return {
            "status": DeliveryStatus.IN_FLIGHT.value,
            "claimed_by": self.worker_id,
            "lease_expires_at": self.until,
            "next_attempt_at": self.until,
            "updated_at": now,
        }


def _claimed(rows: Any) -> list[ClaimedDelivery]:
    return list(map(ClaimedDelivery._make, rows))


def _due(now: datetime, kinds: Collection[str] | None) -> ColumnElement[bool]:
    due = and_(Delivery.status.in_(_CLAIMABLE), Delivery.next_attempt_at <= now)
    # (kind, status, next_attempt_at) is indexed for this
    return due if kinds is None else and_(Delivery.kind.in_(sorted(kinds)), due)


def claim_due(
    session: Session,
    lease: Lease,
    limit: int,
    now: datetime,
    kinds: Collection[str] | None = None,
) -> list[ClaimedDelivery]:
    """Claim up to ``limit`` deliveries of ``kinds`` (every kind when None) due at ``now``
    under ``lease``."""
    due = (
        select(Delivery.id)
        .where(_due(now, kinds))
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(limit)
    )
    values = lease.claim_values(now)
    dialect = session.get_bind().dialect.name
    if dialect in ("mysql", "mariadb"):
        # No UPDATE ... RETURNING: lock the rows with SKIP LOCKED, then update them.
        claimed = _claimed(
            session.execute(due.with_only_columns(*COLUMNS).with_for_update(skip_locked=True))
        )
        if claimed:
            session.execute(
                update(Delivery)
                .where(id_in(session, Delivery.id, [d.id for d in claimed]))
                .values(values)
                .execution_options(synchronize_session=False)
            )
        return claimed
    if dialect == "postgresql":
        due = due.with_for_update(skip_locked=True)
    # On SQLite there is one writer at a time: the UPDATE itself is the lock.
    statement = (
        update(Delivery)
        .where(Delivery.id.in_(due.scalar_subquery()))
        .values(values)
        .returning(*COLUMNS)
        .execution_options(synchronize_session=False)
    )
    return _claimed(session.execute(statement))


def renew_leases(session: Session, holders: list[str], until: datetime, now: datetime) -> int:
    """Extend the claims these holders still have (a send that outlasts its lease must not
    make the deliveries due again while their worker is alive)."""
    result: Any = session.execute(
        update(Delivery)
        .where(Delivery.claimed_by.in_(holders), Delivery.status == DeliveryStatus.IN_FLIGHT.value)
        .values(lease_expires_at=until, next_attempt_at=until, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)
