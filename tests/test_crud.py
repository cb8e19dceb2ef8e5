"""The admin CRUD kit on its own: integer and UUID keys, refs that name nothing, conflicts,
partial updates, output mapping and paging, on every backend."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import JSON, MetaData, String, Uuid, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from omnirelay.crud import (
    MAX_ID,
    Page,
    apply_update,
    contains_text,
    flush_or_conflict,
    get_or_404,
    key_of,
    paginate,
    to_out,
)
from omnirelay.db import create_engine, create_sessionmaker
from omnirelay.errors import Conflict, NotFound
from omnirelay.models import Storefront


class _TestBase(DeclarativeBase):
    # Not the application's MetaData: the schema drift test must never see this table.
    metadata = MetaData()


class Thing(_TestBase):
    """A row with a UUID key, as the trafficking tables will have."""

    __tablename__ = "crud_kit_things"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(String(50), unique=True, nullable=False)
    label: Mapped[str] = mapped_column(String(100), nullable=False)
    note: Mapped[str | None] = mapped_column(String(100))
    spec: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Spec(BaseModel):
    kind: str
    enabled: bool = True


class ThingUpdate(BaseModel):
    code: str | None = None
    title: str | None = None  # stored as ``label``
    note: str | None = None
    spec: Spec | None = None
    owner: str | None = None  # not a column: the caller resolves it


class ThingOut(BaseModel):
    id: uuid.UUID
    code: str
    label: str
    note: str | None
    shout: str


@pytest.fixture
async def session(db_url: str) -> AsyncIterator[AsyncSession]:
    """A session on the test database with ``crud_kit_things`` created; nothing is committed."""
    engine = create_engine(db_url)
    async with engine.begin() as connection:
        await connection.run_sync(_TestBase.metadata.create_all)
    try:
        async with create_sessionmaker(engine)() as session:
            yield session
            await session.rollback()
    finally:
        async with engine.begin() as connection:
            await connection.run_sync(_TestBase.metadata.drop_all)
        await engine.dispose()


async def add_thing(session: AsyncSession, code: str, **fields: Any) -> Thing:
    thing = Thing(code=code, label=fields.pop("label", code.title()), **fields)
    session.add(thing)
    await session.flush()
    return thing


async def add_storefront(session: AsyncSession, code: str) -> Storefront:
    storefront = Storefront(code=code, name=code.title(), is_active=True)
    session.add(storefront)
    await session.flush()
    return storefront


# ---- keys --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "key"),
    [
        (7, 7),
        ("7", 7),
        ("007", 7),
        (MAX_ID, MAX_ID),
        (str(MAX_ID), MAX_ID),
        (0, None),
        ("0", None),
        (-1, None),
        ("-1", None),
        (MAX_ID + 1, None),
        ("9" * 30, None),
        ("9" * 5000, None),  # more digits than int() converts
        ("²", None),  # a digit to str.isdigit, not to int()
        (" 7", None),
        ("7.0", None),
        ("bosley", None),
        ("", None),
        (True, None),  # a bool is an int to Python, never an id
        (uuid.UUID(int=7), None),
    ],
)
def test_int_keys(ref: Any, key: int | None) -> None:
    assert key_of(Storefront, ref) == key


def test_uuid_keys() -> None:
    known = uuid.uuid4()
    assert key_of(Thing, known) == known
    assert key_of(Thing, str(known)) == known
    assert key_of(Thing, str(known).upper()) == known
    assert key_of(Thing, known.hex) == known
    for ref in ("not-a-uuid", str(known)[:-1], "", "7", 7, "é" * 32):
        assert key_of(Thing, ref) is None, ref


# ---- get-or-404 --------------------------------------------------------------------------


async def test_get_or_404_with_int_keys_and_an_alternate_column(session: AsyncSession) -> None:
    bosley = await add_storefront(session, "bosley")
    numeric = await add_storefront(session, "987654321")

    def get(ref: Any) -> Any:
        return get_or_404(session, Storefront, ref, what="storefront", alternate=Storefront.code)

    assert await get(bosley.id) is bosley
    assert await get(str(bosley.id)) is bosley
    assert await get("bosley") is bosley
    assert await get("987654321") is numeric  # a code that looks like an id, no such id
    assert await get_or_404(session, Storefront, bosley.id, what="storefront") is bosley

    with pytest.raises(NotFound) as missing:
        await get("nowhere")
    assert missing.value.detail == "storefront 'nowhere' does not exist"
    with pytest.raises(NotFound) as missing:
        await get(999999)
    assert missing.value.detail == "storefront 999999 does not exist"
    # without an alternate column a code is only a ref that names no key
    with pytest.raises(NotFound):
        await get_or_404(session, Storefront, "bosley", what="storefront")
    # an int is a key only: it is never looked for among the codes
    with pytest.raises(NotFound):
        await get(987654321)


@pytest.mark.parametrize("ref", [0, -5, MAX_ID + 1, 10**30, "9" * 30, "9" * 5000, "²", "x y"])
async def test_refs_no_int_key_can_have_are_not_found(session: AsyncSession, ref: Any) -> None:
    # Never sent to the database, where an out-of-range number would be an error (a 500).
    with pytest.raises(NotFound) as missing:
        await get_or_404(session, Storefront, ref, what="storefront", alternate=Storefront.code)
    assert missing.value.status_code == 404
    assert missing.value.detail.startswith("storefront ")


async def test_get_or_404_with_uuid_keys(session: AsyncSession) -> None:
    thing = await add_thing(session, "widget")

    assert await get_or_404(session, Thing, thing.id, what="thing") is thing
    assert await get_or_404(session, Thing, str(thing.id), what="thing") is thing
    assert await get_or_404(session, Thing, "widget", what="thing", alternate=Thing.code) is thing

    absent = uuid.uuid4()
    with pytest.raises(NotFound) as missing:
        await get_or_404(session, Thing, absent, what="thing")
    assert missing.value.detail == f"thing {absent} does not exist"
    for ref in ("not-a-uuid", str(thing.id)[:-1], 7, "7", "widget"):
        with pytest.raises(NotFound) as missing:
            await get_or_404(session, Thing, ref, what="thing")
        shown = repr(ref) if isinstance(ref, str) else str(ref)
        assert missing.value.detail == f"thing {shown} does not exist"


# ---- conflict-to-409 ---------------------------------------------------------------------


async def test_a_duplicate_is_a_conflict_with_the_message(session: AsyncSession) -> None:
    await add_thing(session, "widget")
    session.add(Thing(code="widget", label="Again"))
    with pytest.raises(Conflict) as conflict:
        await flush_or_conflict(session, "code 'widget' already exists")
    assert conflict.value.status_code == 409
    assert conflict.value.detail == "code 'widget' already exists"
    await session.rollback()


# ---- partial update ----------------------------------------------------------------------


def test_partial_update_sets_only_the_fields_sent() -> None:
    thing = Thing(code="widget", label="Widget", note="keep me", spec={"kind": "a"})
    apply_update(thing, ThingUpdate(code="gadget"))
    assert (thing.code, thing.label, thing.note, thing.spec) == (
        "gadget",
        "Widget",
        "keep me",
        {"kind": "a"},
    )


def test_an_empty_partial_update_changes_nothing() -> None:
    thing = Thing(code="widget", label="Widget", note="keep me")
    apply_update(thing, ThingUpdate())
    apply_update(thing, ThingUpdate(code="gadget"), exclude={"code"})
    assert (thing.code, thing.label, thing.note) == ("widget", "Widget", "keep me")


def test_partial_update_null_clears_only_nullable_columns() -> None:
    thing = Thing(code="widget", label="Widget", note="a note", spec={"kind": "a"})
    apply_update(thing, ThingUpdate.model_validate({"code": None, "note": None, "spec": None}))
    assert thing.code == "widget"  # NOT NULL: a null leaves it
    assert thing.note is None and thing.spec is None  # nullable: a null clears it


def test_partial_update_renames_converts_and_excludes() -> None:
    seen: list[Any] = []

    def shout(value: str) -> str:
        seen.append(value)
        return value.upper()

    thing = Thing(code="widget", label="Widget", note="a note")
    body = ThingUpdate.model_validate({"title": "big widget", "note": None, "owner": "someone"})
    apply_update(
        thing,
        body,
        exclude={"owner"},
        rename={"title": "label"},
        convert={"title": shout, "note": shout},
    )
    assert thing.label == "BIG WIDGET"
    assert thing.note is None
    assert seen == ["big widget"]  # hooks never see a null


def test_partial_update_stores_nested_models_with_their_defaults() -> None:
    thing = Thing(code="widget", label="Widget")
    apply_update(thing, ThingUpdate.model_validate({"spec": {"kind": "b"}}))
    assert thing.spec == {"kind": "b", "enabled": True}


def test_partial_update_refuses_a_field_that_is_no_column() -> None:
    thing = Thing(code="widget", label="Widget")
    with pytest.raises(KeyError):
        apply_update(thing, ThingUpdate(owner="someone"))  # ``owner`` must be excluded
    with pytest.raises(KeyError):
        apply_update(thing, ThingUpdate(title="x"))  # ``title`` must be renamed


# ---- output mapping and paging -----------------------------------------------------------


def test_to_out_reads_attributes_and_takes_computed_fields() -> None:
    thing = Thing(id=uuid.uuid4(), code="widget", label="Widget", note=None)
    out = to_out(ThingOut, thing, shout="WIDGET")
    assert out == ThingOut(id=thing.id, code="widget", label="Widget", note=None, shout="WIDGET")


async def test_paginate_gives_a_page_and_the_total(session: AsyncSession) -> None:
    for code in ("alpha", "bravo", "charlie", "delta_x", "echo"):
        await add_thing(session, code)
    statement = select(Thing).order_by(Thing.code)

    pages = []
    for offset in (0, 2, 4, 6):
        rows, total = await paginate(session, statement, 2, offset)
        assert total == 5
        pages.append([t.code for t in rows])
    assert pages == [["alpha", "bravo"], ["charlie", "delta_x"], ["echo"], []]

    # "_" is no wildcard: as one, "A_" would match bravo and charlie too
    searched = statement.where(contains_text(Thing.code, "A_"))
    rows, total = await paginate(session, searched, 10, 0)
    assert ([t.code for t in rows], total) == (["delta_x"], 1)

    rows, total = await paginate(
        session, select(Thing.code, Thing.label).order_by(Thing.code), 1, 1, whole_rows=True
    )
    assert ([tuple(r) for r in rows], total) == ([("bravo", "Bravo")], 5)


def test_page_json_shape() -> None:
    page = Page[ThingOut](items=[], total=0, limit=50, offset=0)
    assert page.model_dump(mode="json") == {"items": [], "total": 0, "limit": 50, "offset": 0}
