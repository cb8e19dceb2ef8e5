"""The messaging queries: stored events and profiles, and the claims, each one statement the
database decides atomically (see ``omnirelay.models.messaging`` for the claim design).
Synchronous, on the plain ``Session`` of a unit of work (``db.run_transaction``)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, Table, and_, case, delete, func, literal, or_, select, update
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.orm import Session

from omnirelay.models import (
    EventStatus,
    MarketingEvent,
    MessageCapSlot,
    MessageDecision,
    MessageInbox,
    MessageSuppression,
    UserTraits,
    table_of,
)
from omnirelay.models.base import utcnow

PROFILES = table_of(UserTraits)
SUPPRESSIONS = table_of(MessageSuppression)
SLOTS = table_of(MessageCapSlot)
DECISIONS = table_of(MessageDecision)


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def insert_unless_present(
    session: Session, table: Table, values: dict[str, Any] | Select[Any]
) -> int:
    """Insert a row (``values``, or the rows a SELECT gives), letting the database skip rows
    whose key is taken; how many it inserted. Nothing is read first: of two transactions
    inserting one key, one inserts and the other waits for it and inserts nothing."""
    dialect = _dialect(session)
    statement: Any
    if dialect in ("mysql", "mariadb"):
        # IGNORE skips only duplicates here: the values are checked before they come.
        statement = mysql.insert(table).prefix_with("IGNORE")
    elif dialect == "postgresql":
        statement = postgresql.insert(table).on_conflict_do_nothing()
    else:
        statement = sqlite.insert(table).on_conflict_do_nothing()
    if isinstance(values, dict):
        statement = statement.values(values)
    else:
        statement = statement.from_select(list(values.selected_columns.keys()), values)
    result = session.execute(statement)
    return max(0, int(result.rowcount or 0))  # type: ignore[attr-defined]


def insert_event(session: Session, values: dict[str, Any]) -> int | None:
    """Insert an event unless its key is taken: its new id, or None (see
    ``insert_unless_present``); one statement."""
    table = table_of(MarketingEvent)
    dialect = _dialect(session)
    if dialect in ("mysql", "mariadb"):
        result = session.execute(mysql.insert(table).prefix_with("IGNORE").values(values))
        return int(result.lastrowid) if result.rowcount == 1 else None  # type: ignore[attr-defined]
    flavour: Any = postgresql if dialect == "postgresql" else sqlite
    statement = flavour.insert(table).values(values).on_conflict_do_nothing()
    return (session.execute(statement.returning(table.c.id))).scalar()


def stored_event_id(
    session: Session, storefront_id: int, event_type: str, event_id: str
) -> tuple[int, str] | None:
    """The id and source of the stored event with that key."""
    row = (
        session.execute(
            select(MarketingEvent.id, MarketingEvent.source_system).where(
                MarketingEvent.storefront_id == storefront_id,
                MarketingEvent.event_type == event_type,
                MarketingEvent.event_id == event_id,
            )
        )
    ).first()
    return (row[0], row[1]) if row is not None else None


def decision_of_event(session: Session, event_id: int) -> MessageDecision | None:
    return (
        session.execute(select(MessageDecision).where(MessageDecision.event_id == event_id))
    ).scalar_one_or_none()


def lock_profile(
    session: Session,
    storefront_id: int,
    user_id: str,
    traits: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> Row[Any]:
    """The user's profile row, created when missing, with ``traits`` (values of trait
    columns, as of ``at``) written in, locked until the transaction ends.

    One upsert that touches the row: it takes the row's write lock whether it inserts or
    finds the row (an insert-if-missing then SELECT FOR UPDATE would take a shared lock
    first, and two transactions upgrading theirs deadlock on MariaDB). Decisions of one
    user thus take turns over their traits; their claims are the database's to judge.
    Traits as of an event newer than the profile's (``traits_at``) replace its values; an
    older event's fill in only the columns the profile lacks."""
    key = {"storefront_id": storefront_id, "user_id": user_id}
    traits = traits or {}
    dialect = _dialect(session)
    mariadb = dialect in ("mysql", "mariadb")
    flavour: Any = mysql if mariadb else postgresql if dialect == "postgresql" else sqlite
    statement = flavour.insert(PROFILES)
    if traits:
        statement = statement.values(key | dict(traits) | {"traits_at": at, "updated_at": utcnow()})
    else:
        statement = statement.values(key)
    given = statement.inserted if mariadb else statement.excluded
    stored = PROFILES.c
    newer = or_(stored.traits_at.is_(None), stored.traits_at <= given.traits_at)
    changes: list[tuple[Any, Any]] = [
        (stored[name], case((newer, given[name]), else_=func.coalesce(stored[name], given[name])))
        for name in traits
    ]
    if traits:
        # traits_at last: MySQL applies the assignments in order, each seeing the ones before
        changes.append((stored.updated_at, given.updated_at))
        changes.append((stored.traits_at, case((newer, given.traits_at), else_=stored.traits_at)))
    else:
        changes.append((stored.updated_at, stored.updated_at))
    if mariadb:
        session.execute(
            statement.on_duplicate_key_update([(column.name, value) for column, value in changes])
        )
        return session.execute(
            select(PROFILES).where(
                PROFILES.c.storefront_id == storefront_id, PROFILES.c.user_id == user_id
            )
        ).one()
    upsert = statement.on_conflict_do_update(
        index_elements=["storefront_id", "user_id"],
        set_={column.name: value for column, value in changes},
    ).returning(*PROFILES.c)
    # RETURNING hands the row back from the same statement, inserted or found
    return session.execute(upsert).one()


def update_profile(
    session: Session, storefront_id: int, user_id: str, values: dict[str, Any]
) -> None:
    session.execute(
        update(PROFILES)
        .where(PROFILES.c.storefront_id == storefront_id, PROFILES.c.user_id == user_id)
        .values(values)
    )


def insert_decision(session: Session, values: dict[str, Any]) -> int:
    result = session.execute(DECISIONS.insert().values(values))
    return int(result.inserted_primary_key[0])  # type: ignore[attr-defined]


def latest_prior_events(
    session: Session,
    storefront_id: int,
    user_id: str,
    event_types: Collection[str],
    before: datetime,
    own_id: int,
) -> dict[str, datetime]:
    """The latest event time of each type for the user, strictly before ``before``; one
    query for every type the rules may look up."""
    if not event_types:
        return {}
    rows = session.execute(
        select(MarketingEvent.event_type, func.max(MarketingEvent.event_time))
        .where(
            MarketingEvent.user_id == user_id,
            MarketingEvent.storefront_id == storefront_id,
            MarketingEvent.event_type.in_(sorted(event_types)),
            MarketingEvent.event_time < before,
            MarketingEvent.id != own_id,
            MarketingEvent.status != EventStatus.DUPLICATE.value,
        )
        .group_by(MarketingEvent.event_type)
    )
    found: dict[str, datetime] = {}
    for event_type, latest in rows.all():
        if latest is None:
            continue
        # max() loses the column's type on some drivers: a naive datetime or text back
        if isinstance(latest, str):
            latest = datetime.fromisoformat(latest)
        found[event_type] = latest if latest.tzinfo else latest.replace(tzinfo=before.tzinfo)
    return found


def claim_suppression(
    session: Session,
    storefront_id: int,
    user_id: str,
    rule_name: str,
    window_key: str,
    event_id: int,
    event_timestamp: datetime,
    now: datetime,
) -> MessageSuppression | None:
    """Take the window's claim; None when taken, else the claim that was there first."""
    inserted = insert_unless_present(
        session,
        SUPPRESSIONS,
        {
            "storefront_id": storefront_id,
            "user_id": user_id,
            "rule_name": rule_name,
            "window_key": window_key,
            "event_id": event_id,
            "event_timestamp": event_timestamp,
            "claimed_at": now,
        },
    )
    if inserted:
        return None
    return (
        session.execute(
            select(MessageSuppression).where(
                MessageSuppression.storefront_id == storefront_id,
                MessageSuppression.user_id == user_id,
                MessageSuppression.rule_name == rule_name,
                MessageSuppression.window_key == window_key,
            )
        )
    ).scalar_one()


def claim_cap_slot(
    session: Session,
    storefront_id: int,
    user_id: str,
    scope: str,
    count: int,
    since: datetime,
    held_at: datetime,
    event_id: int,
) -> bool:
    """Take one of the ``count`` slots whose last send is before ``since`` (or that never
    held one): one statement when such a slot exists.

    A free slot is taken with a conditional UPDATE, which the database re-checks on the
    row it locks, so a slot goes to one send only. When none is free and fewer than
    ``count`` exist, the next one is inserted already held, by an insert the unique key lets
    one transaction make. (The profile lock already makes one user's decisions take turns;
    were two to meet here, the one that loses is suppressed, never let past the cap.)"""
    key = and_(
        SLOTS.c.storefront_id == storefront_id, SLOTS.c.user_id == user_id, SLOTS.c.scope == scope
    )
    free = or_(SLOTS.c.held_at.is_(None), SLOTS.c.held_at < since)
    # MySQL reads the table it updates only through a derived table it cannot merge away
    lowest_free = (
        select(func.min(SLOTS.c.slot).label("slot")).where(key, SLOTS.c.slot < count, free)
    ).subquery()
    taken = session.execute(
        update(SLOTS)
        .where(key, free, SLOTS.c.slot == select(lowest_free.c.slot).scalar_subquery())
        .values(held_at=held_at, event_id=event_id)
    )
    if taken.rowcount == 1:  # type: ignore[attr-defined]
        return True
    following = func.coalesce(func.max(SLOTS.c.slot) + 1, 0)
    next_slot = (
        select(
            literal(storefront_id, SLOTS.c.storefront_id.type).label("storefront_id"),
            literal(user_id, SLOTS.c.user_id.type).label("user_id"),
            literal(scope, SLOTS.c.scope.type).label("scope"),
            following.label("slot"),
            literal(held_at, SLOTS.c.held_at.type).label("held_at"),
            literal(event_id, SLOTS.c.event_id.type).label("event_id"),
        )
        .where(key)
        .having(following < count)
    )
    return insert_unless_present(session, SLOTS, next_slot) == 1


def cap_holders(
    session: Session, storefront_id: int, user_id: str, scope: str, count: int
) -> list[tuple[int | None, datetime | None]]:
    """The events holding a cap's slots (to say which sends reached it)."""
    rows = session.execute(
        select(SLOTS.c.event_id, SLOTS.c.held_at)
        .where(
            SLOTS.c.storefront_id == storefront_id,
            SLOTS.c.user_id == user_id,
            SLOTS.c.scope == scope,
            SLOTS.c.slot < count,
        )
        .order_by(SLOTS.c.held_at)
    )
    return [(event_id, held_at) for event_id, held_at in rows.all()]


def take_from_inbox(session: Session, event_id: int) -> bool:
    """Remove an event from the inbox; only the one transaction that removes it decides it."""
    result = session.execute(delete(MessageInbox).where(MessageInbox.event_id == event_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]
