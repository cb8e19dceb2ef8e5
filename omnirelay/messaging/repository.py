"""The messaging queries: stored events and profiles, and the claims, each one statement the
database decides atomically (see ``omnirelay.models.messaging`` for the claim design).
Synchronous, on the plain ``Session`` of a unit of work (``db.run_transaction``)."""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Row,
    Table,
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.orm import Session

from omnirelay.models import (
    EventStatus,
    MarketingEvent,
    MessageCapSlot,
    MessageDecision,
    MessageInbox,
    MessageSuppression,
    Storefront,
    UserTraits,
    table_of,
)
from omnirelay.models.base import utcnow

PROFILES = table_of(UserTraits)
SUPPRESSIONS = table_of(MessageSuppression)
SLOTS = table_of(MessageCapSlot)
DECISIONS = table_of(MessageDecision)
EVENTS = table_of(MarketingEvent)
STOREFRONTS = table_of(Storefront)
MARIADB = ("mysql", "mariadb")


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def run(session: Session, statement: Any, params: dict[str, Any] | None = None) -> Any:
    """A prepared statement (built once, with bound parameters) on the session's
    connection: a decision runs a dozen of them, and building each anew and passing it
    through the ORM layer, which these plain statements do not need, costs more than the
    database takes to run most of them."""
    return session.connection().execute(statement, params or {})


@functools.cache
def _skipping_duplicates(dialect: str, table: Table) -> Any:
    """An INSERT whose rows the database skips when their key is taken."""
    if dialect in MARIADB:
        # IGNORE skips only duplicates here: the values are checked before they come.
        return mysql.insert(table).prefix_with("IGNORE")
    flavour: Any = postgresql if dialect == "postgresql" else sqlite
    return flavour.insert(table).on_conflict_do_nothing()


def insert_unless_present(session: Session, table: Table, values: dict[str, Any]) -> int:
    """Insert a row, letting the database skip it when its key is taken; how many it
    inserted. Nothing is read first: of two transactions inserting one key, one inserts
    and the other waits for it and inserts nothing."""
    result = run(session, _skipping_duplicates(_dialect(session), table), values)
    return max(0, int(result.rowcount or 0))


STOREFRONT_ID = select(STOREFRONTS.c.id).where(STOREFRONTS.c.storefront_id == bindparam("code"))


def storefront_id_of(session: Session, code: str) -> int | None:
    """The id of the storefront with that code (``storefront_id`` in the API)."""
    found = run(session, STOREFRONT_ID, {"code": code}).scalar_one_or_none()
    return int(found) if found is not None else None


@functools.cache
def _insert_event(dialect: str) -> Any:
    statement = _skipping_duplicates(dialect, EVENTS)
    return statement if dialect in MARIADB else statement.returning(EVENTS.c.id)


def inserts_in_one_statement(session: Session) -> bool:
    """Whether the database writes a row and the rows that follow from it in one
    statement (PostgreSQL's data-modifying CTEs): the event with its storefront lookup,
    detail rows and prior events; a decision with its send and delivery."""
    return _dialect(session) == "postgresql"


def insert_event(
    session: Session,
    values: dict[str, Any],
    details: Mapping[Table, dict[str, Any]] | None = None,
    *,
    storefront_code: str | None = None,
    prior: PriorLookup | None = None,
) -> InsertedEvent | None:
    """Insert an event unless its key is taken, with its 1:1 detail rows (``details``: a
    row per table, without ``event_id``): its new id and storefront id, or None and
    nothing inserted (see ``insert_unless_present``).

    On PostgreSQL one statement writes them all; with ``storefront_code`` it also finds
    the storefront's id (``values["storefront_id"]`` is then not read: a code no
    storefront has gives a NULL storefront id, for the caller to refuse and roll back),
    and with ``prior`` it also reads the user's latest earlier events of those types (as
    ``latest_prior_events`` does, from the snapshot before this insert)."""
    dialect, details = _dialect(session), details or {}
    if dialect == "postgresql":
        looks_back = prior is not None and bool(prior.event_types)
        statement = _insert_event_at_once(
            tuple(values), tuple(details), storefront_code is not None, looks_back
        )
        params = dict(values) | {"storefront_lookup_code": storefront_code}
        if prior is not None and looks_back:
            params |= {"prior_types": sorted(prior.event_types), "prior_before": prior.before}
        for table, row in details.items():
            params |= {f"{table.name}_{name}": value for name, value in row.items()}
        found = run(session, statement, params).first()
        if found is None:
            return None
        latest = None
        if looks_back:
            types, times = found[2] or [], found[3] or []
            latest = {
                t: _aware(at, values["event_time"]) for t, at in zip(types, times, strict=True)
            }
        return InsertedEvent(found[0], found[1], latest)
    result = run(session, _insert_event(dialect), values)
    if dialect in MARIADB:
        new_id = int(result.lastrowid) if result.rowcount == 1 else None
    else:
        new_id = result.scalar()
    if new_id is None:
        return None
    for table, row in details.items():
        run(session, _insert_detail(table), {"event_id": new_id} | row)
    return InsertedEvent(new_id, values["storefront_id"])


@dataclass(frozen=True)
class PriorLookup:
    """The earlier events a decision looks up: the latest of each type before ``before``."""

    event_types: Collection[str]
    before: datetime


@dataclass(frozen=True)
class InsertedEvent:
    id: int
    storefront_id: int | None
    # the latest earlier event of each type asked for, when the insert read them too
    prior: dict[str, datetime] | None = None


def _aware(value: Any, like: datetime) -> datetime:
    """max() loses the column's type on some drivers: a naive datetime or text back."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=like.tzinfo)


@functools.cache
def _insert_detail(table: Table) -> Any:
    return table.insert()


def inserted_after(
    table: Table, prefix: str, names: tuple[str, ...], derived: Mapping[str, Any]
) -> Any:
    """For a data-modifying CTE: ``INSERT INTO table (names..., derived...) SELECT
    :prefix_name..., <derived expressions>``, the expressions reading the CTE of the row
    this one follows from (its new id), the values bound as ``<prefix>_<name>``."""
    bound = (
        cast(bindparam(f"{prefix}_{n}", type_=table.c[n].type), table.c[n].type) for n in names
    )
    return table.insert().from_select([*names, *derived], select(*bound, *derived.values()))


@functools.cache
def _insert_event_at_once(
    columns: tuple[str, ...], tables: tuple[Table, ...], storefront_by_code: bool, looks_back: bool
) -> Any:
    """``WITH e AS (INSERT INTO marketing_events ... ON CONFLICT DO NOTHING RETURNING id,
    storefront_id), d1 AS (INSERT INTO <detail> SELECT e.id, ... FROM e) ... SELECT * FROM
    e``: a taken key inserts no event, so no detail either. Parameters: the event's
    columns (``storefront_lookup_code`` for the storefront when ``storefront_by_code``),
    each detail column as ``<table>_<column>``, and when ``looks_back`` ``prior_types``
    and ``prior_before``: the user's latest earlier event of each type, as two arrays."""
    values: dict[str, Any] = {name: bindparam(name, type_=EVENTS.c[name].type) for name in columns}
    if storefront_by_code:
        values["storefront_id"] = (
            select(STOREFRONTS.c.id)
            .where(STOREFRONTS.c.storefront_id == bindparam("storefront_lookup_code"))
            .scalar_subquery()
        )
    event = (
        postgresql.insert(EVENTS)
        .values(values)
        .on_conflict_do_nothing()
        .returning(EVENTS.c.id, EVENTS.c.storefront_id)
        .cte("new_event")
    )
    statement = select(event.c.id, event.c.storefront_id)
    if looks_back:
        prior = (
            select(EVENTS.c.event_type, func.max(EVENTS.c.event_time).label("latest"))
            .where(
                EVENTS.c.user_id == bindparam("user_id"),
                EVENTS.c.storefront_id == select(event.c.storefront_id).scalar_subquery(),
                EVENTS.c.event_type.in_(bindparam("prior_types", expanding=True)),
                EVENTS.c.event_time < bindparam("prior_before", type_=EVENTS.c.event_time.type),
                EVENTS.c.status != EventStatus.DUPLICATE.value,
            )
            .group_by(EVENTS.c.event_type)
            .cte("prior_events")
        )
        statement = statement.add_columns(
            select(func.array_agg(prior.c.event_type)).scalar_subquery(),
            select(func.array_agg(prior.c.latest)).scalar_subquery(),
        )
    for table in tables:
        names = tuple(c.name for c in table.c if c.name != "event_id")
        detail = inserted_after(table, table.name, names, {"event_id": event.c.id})
        statement = statement.add_cte(detail.cte(f"new_{table.name}"))
    return statement


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


@functools.cache
def _profile_upsert(dialect: str, traits: tuple[str, ...]) -> Any:
    """The upsert that creates, touches or updates a profile with these trait columns."""
    mariadb = dialect in MARIADB
    flavour: Any = mysql if mariadb else postgresql if dialect == "postgresql" else sqlite
    statement = flavour.insert(PROFILES)
    given = statement.inserted if mariadb else statement.excluded
    stored = PROFILES.c
    newer = or_(stored.traits_at.is_(None), stored.traits_at <= given.traits_at)
    changes: list[tuple[str, Any]] = [
        (name, case((newer, given[name]), else_=func.coalesce(stored[name], given[name])))
        for name in traits
    ]
    if traits:
        # traits_at last: MySQL applies the assignments in order, each seeing the ones before
        changes.append(("updated_at", given.updated_at))
        changes.append(("traits_at", case((newer, given.traits_at), else_=stored.traits_at)))
    else:
        changes.append(("updated_at", stored.updated_at))
    if mariadb:
        return statement.on_duplicate_key_update(changes)
    # RETURNING hands the row back from the same statement, inserted or found
    return statement.on_conflict_do_update(
        index_elements=["storefront_id", "user_id"], set_=dict(changes)
    ).returning(*PROFILES.c)


PROFILE = select(PROFILES).where(
    PROFILES.c.storefront_id == bindparam("storefront_id"),
    PROFILES.c.user_id == bindparam("user_id"),
)


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
    values = key | dict(traits) | {"traits_at": at, "updated_at": utcnow()} if traits else key
    dialect = _dialect(session)
    result = run(session, _profile_upsert(dialect, tuple(sorted(traits or ()))), values)
    if dialect in MARIADB:
        return run(session, PROFILE, key).one()
    return result.one()


def update_profile(
    session: Session, storefront_id: int, user_id: str, values: dict[str, Any]
) -> None:
    session.execute(
        update(PROFILES)
        .where(PROFILES.c.storefront_id == storefront_id, PROFILES.c.user_id == user_id)
        .values(values)
    )


def insert_decision(session: Session, values: dict[str, Any]) -> int:
    return int(run(session, DECISIONS.insert(), values).inserted_primary_key[0])


LATEST_PRIOR_EVENTS = (
    select(EVENTS.c.event_type, func.max(EVENTS.c.event_time))
    .where(
        EVENTS.c.user_id == bindparam("user_id"),
        EVENTS.c.storefront_id == bindparam("storefront_id"),
        EVENTS.c.event_type.in_(bindparam("event_types", expanding=True)),
        EVENTS.c.event_time < bindparam("before"),
        EVENTS.c.id != bindparam("own_id"),
        EVENTS.c.status != EventStatus.DUPLICATE.value,
    )
    .group_by(EVENTS.c.event_type)
)


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
    rows = run(
        session,
        LATEST_PRIOR_EVENTS,
        {
            "user_id": user_id,
            "storefront_id": storefront_id,
            "event_types": sorted(event_types),
            "before": before,
            "own_id": own_id,
        },
    )
    found: dict[str, datetime] = {}
    for event_type, latest in rows.all():
        if latest is None:
            continue
        found[event_type] = _aware(latest, before)
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


_SLOT_KEY = and_(
    SLOTS.c.storefront_id == bindparam("for_storefront"),
    SLOTS.c.user_id == bindparam("for_user"),
    SLOTS.c.scope == bindparam("in_scope"),
)
_FREE = or_(SLOTS.c.held_at.is_(None), SLOTS.c.held_at < bindparam("since"))
# (bound parameters may not have the names of the columns an UPDATE or INSERT sets)
# MySQL reads the table it updates only through a derived table it cannot merge away
_LOWEST_FREE = (
    select(func.min(SLOTS.c.slot).label("slot")).where(
        _SLOT_KEY, SLOTS.c.slot < bindparam("count"), _FREE
    )
).subquery()
TAKE_FREE_SLOT = (
    update(SLOTS)
    .where(_SLOT_KEY, _FREE, SLOTS.c.slot == select(_LOWEST_FREE.c.slot).scalar_subquery())
    .values(held_at=bindparam("taking_at"), event_id=bindparam("taking_for"))
)
_FOLLOWING = func.coalesce(func.max(SLOTS.c.slot) + 1, 0)
NEXT_SLOT = (
    select(
        bindparam("for_storefront", type_=SLOTS.c.storefront_id.type),
        bindparam("for_user", type_=SLOTS.c.user_id.type),
        bindparam("in_scope", type_=SLOTS.c.scope.type),
        _FOLLOWING,
        bindparam("taking_at", type_=SLOTS.c.held_at.type),
        bindparam("taking_for", type_=SLOTS.c.event_id.type),
    )
    .where(_SLOT_KEY)
    .having(bindparam("count") > _FOLLOWING)
)


@functools.cache
def _insert_next_slot(dialect: str) -> Any:
    columns = ["storefront_id", "user_id", "scope", "slot", "held_at", "event_id"]
    return _skipping_duplicates(dialect, SLOTS).from_select(columns, NEXT_SLOT)


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
    params = {
        "for_storefront": storefront_id,
        "for_user": user_id,
        "in_scope": scope,
        "count": count,
        "since": since,
        "taking_at": held_at,
        "taking_for": event_id,
    }
    if run(session, TAKE_FREE_SLOT, params).rowcount == 1:
        return True
    return int(run(session, _insert_next_slot(_dialect(session)), params).rowcount or 0) == 1


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
