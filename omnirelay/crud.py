"""What every admin resource shares: paging and search, get-or-404, conflict-to-409, partial
update and output mapping.

Like the services that use them, these helpers flush and never commit: the request's
session scope owns the transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Mapping
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import Select, func, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from omnirelay.errors import Conflict, NotFound

# Ids are 32-bit INTEGER columns on PostgreSQL and MySQL; larger numbers name nothing.
MAX_ID = 2**31 - 1

T = TypeVar("T")
ModelT = TypeVar("ModelT")
OutT = TypeVar("OutT", bound=BaseModel)

# How a client names a row: its key (an int or a UUID), or the text of one, or a code.
Ref = int | str | uuid.UUID


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


async def paginate(
    session: AsyncSession,
    statement: Select[Any] | Select[Any, Any],
    limit: int,
    offset: int,
    *,
    whole_rows: bool = False,
) -> tuple[list[Any], int]:
    """One page and the total; entities, or whole rows when the select joins several."""
    total = (
        await session.execute(select(func.count()).select_from(statement.subquery()))
    ).scalar_one()
    result = await session.execute(statement.limit(limit).offset(offset))
    rows = result.all() if whole_rows else result.scalars().all()
    return list(rows), int(total)


def where_given(statement: Select[Any], *filters: tuple[Any, Any]) -> Select[Any]:
    """List filters: ``column == value`` for each (column, value) whose value was given."""
    for column, value in filters:
        if value is not None:
            statement = statement.where(column == value)
    return statement


def contains_text(column: Any, q: str) -> Any:
    """A list filter: ``column`` contains ``q``, ignoring case."""
    # autoescape: "_" and "%" in a search are literal characters, not LIKE wildcards.
    return func.lower(column).contains(q.lower(), autoescape=True)


def key_of(model: type[Any], ref: Ref) -> int | uuid.UUID | None:
    """The primary key ``ref`` names in ``model``, or None when no row of it can have that key
    (text that is not a number or a UUID, a number outside 1..MAX_ID, a key of the other type).
    """
    [column] = inspect(model).primary_key
    key_type = column.type.python_type
    if key_type is int:
        return _int_key(ref)
    if key_type is uuid.UUID:
        return _uuid_key(ref)
    raise TypeError(f"{model.__name__} has a {key_type.__name__} key; int and UUID keys only")


def _int_key(ref: Ref) -> int | None:
    if isinstance(ref, int) and not isinstance(ref, bool):
        number = ref
    elif isinstance(ref, str) and ref.isascii() and ref.isdigit():  # isdigit alone accepts "²"
        try:
            number = int(ref)
        except ValueError:  # more digits than int() converts (4300): no id either
            return None
    else:
        return None
    return number if 1 <= number <= MAX_ID else None


def _uuid_key(ref: Ref) -> uuid.UUID | None:
    if isinstance(ref, uuid.UUID):
        return ref
    if isinstance(ref, str):
        try:
            return uuid.UUID(ref)
        except ValueError:
            return None
    return None


async def get_or_404(
    session: AsyncSession,
    model: type[ModelT],
    ref: Ref,
    *,
    what: str,
    alternate: InstrumentedAttribute[Any] | None = None,
    for_update: bool = False,
) -> ModelT:
    """The row ``ref`` names, or NotFound naming the resource (``what``) and the ref;
    ``for_update`` locks it (on PostgreSQL and MariaDB) until the transaction ends.

    ``ref`` is the primary key or its text. With ``alternate`` (a unique column, such as a
    storefront's code), a text ref is also looked for there when no row has it as its key, so
    a code that looks like an id is still found.
    """
    row = None
    key = key_of(model, ref)
    if key is not None:
        row = await session.get(model, key, with_for_update=for_update)
    if row is None and alternate is not None and isinstance(ref, str):
        row = (await session.execute(select(model).where(alternate == ref))).scalar_one_or_none()
    if row is None:
        shown = repr(ref) if isinstance(ref, str) else str(ref)
        raise NotFound(f"{what} {shown} does not exist")
    return row


async def flush_or_conflict(session: AsyncSession, message: str) -> None:
    """Flush; a unique or foreign key violation becomes a 409 with ``message``.

    The services check first and say precisely what is taken; this catches the race where a
    concurrent request takes it between the check and the flush.
    """
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict(message) from None


def apply_update(
    target: object,
    body: BaseModel,
    *,
    exclude: Collection[str] = (),
    rename: Mapping[str, str] | None = None,
    convert: Mapping[str, Callable[[Any], Any]] | None = None,
) -> None:
    """Set on ``target`` the fields the client sent in ``body`` (PATCH semantics).

    A field goes to the attribute of the same name, or to the one ``rename`` gives, through its
    ``convert`` hook when it has one. A null clears a nullable column and leaves a NOT NULL one
    as it is (``{"name": null}`` changes nothing); hooks never see a null. Nested models are
    dumped in full, so their defaults are stored as at creation.
    """
    rename = rename or {}
    convert = convert or {}
    columns = inspect(type(target)).columns
    sent = body.model_dump(include=body.model_fields_set - set(exclude))
    for field, value in sent.items():
        attribute = rename.get(field, field)
        column = columns[attribute]  # a KeyError here is a wrong rename or exclude
        if value is None:
            if not column.nullable:
                continue
        elif field in convert:
            value = convert[field](value)
        setattr(target, attribute, value)


def to_out(schema: type[OutT], row: object, /, **fields: Any) -> OutT:
    """``schema`` filled from ``row``'s attributes of the same names; ``fields`` gives the
    values computed instead (a renamed column, a masked secret)."""
    values = {name: getattr(row, name) for name in schema.model_fields if name not in fields}
    return schema.model_validate(values | fields)
