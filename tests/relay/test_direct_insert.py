"""Ingestion path 2: the OMS runs the seed's INSERT statements itself."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, text

from omnirelay.models import MarketingEvent
from omnirelay.pipeline import dispatcher
from omnirelay.relay.context import StoredEvent
from tests.factories import create_storefronts

OPTION_A = """
INSERT INTO marketing_events (event_id, storefront_id, event_type, event_payload, source_system, status)
VALUES ('order123', {storefront_id}, 'purchase_completed', '{{"order_revenue": 80.79}}', 'oms_direct', 'pending')
"""
OPTION_B = """
INSERT INTO marketing_events (event_id, storefront_code, event_type, event_payload, source_system, status)
VALUES ('order123', '{code}', 'purchase_completed', '{{"order_revenue": 80.79}}', 'oms_direct', 'pending')
"""


async def _events(sessionmaker) -> list[MarketingEvent]:
    async with sessionmaker() as session:
        return list(
            (await session.execute(select(MarketingEvent).order_by(MarketingEvent.id))).scalars()
        )


async def test_seed_inserts_run_unchanged_and_are_routed(client, sessionmaker) -> None:
    ids = await create_storefronts(client, "bosley", "pfizer")
    async with sessionmaker() as session, session.begin():
        await session.execute(text(OPTION_A.format(storefront_id=ids["pfizer"])))
        await session.execute(text(OPTION_B.format(code="bosley")))
    stored = await _events(sessionmaker)
    assert [(e.storefront_id, e.storefront_code, e.status) for e in stored] == [
        (ids["pfizer"], None, "pending"),
        (None, "bosley", "pending"),
    ]
    assert all(e.received_at is not None and e.received_at.tzinfo is not None for e in stored)

    async with sessionmaker() as session, session.begin():
        summary = await session.run_sync(dispatcher().route, 100)
    assert summary.routed == 2
    routed = await _events(sessionmaker)
    # option B's code is resolved to the storefront id, option A gets its code filled in
    assert [(e.storefront_id, e.storefront_code) for e in routed] == [
        (ids["pfizer"], "pfizer"),
        (ids["bosley"], "bosley"),
    ]
    # no destination is configured yet: nothing to send, and the reason is stored
    assert {e.status for e in routed} == {"skipped"}
    assert all("no active destination" in (e.status_detail or "") for e in routed)


async def test_unknown_storefront_code_fails_with_the_reason(client, sessionmaker) -> None:
    async with sessionmaker() as session, session.begin():
        await session.execute(text(OPTION_B.format(code="nowhere")))
    async with sessionmaker() as session, session.begin():
        await session.run_sync(dispatcher().route, 100)
    [event] = await _events(sessionmaker)
    assert event.status == "failed"
    assert event.status_detail == "unknown storefront code 'nowhere'"
    # a second pass does not pick it up again: no endless retry
    async with sessionmaker() as session, session.begin():
        assert (await session.run_sync(dispatcher().route, 100)).routed == 0


async def test_direct_insert_of_a_stored_event_is_a_duplicate(client, sessionmaker) -> None:
    ids = await create_storefronts(client, "bosley")
    async with sessionmaker() as session, session.begin():
        await session.execute(text(OPTION_A.format(storefront_id=ids["bosley"])))
        await session.execute(text(OPTION_B.format(code="bosley")))
        await session.execute(text(OPTION_B.format(code="bosley")))
    async with sessionmaker() as session, session.begin():
        await session.run_sync(dispatcher().route, 100)
    first, second, third = await _events(sessionmaker)
    assert first.status == "skipped"
    assert (second.status, third.status) == ("duplicate", "duplicate")
    assert second.status_detail == f"duplicate of event #{first.id}"
    assert second.storefront_id is None  # the unique key stays free for the original


async def test_insert_without_any_storefront_is_refused_by_the_database(
    client, sessionmaker
) -> None:
    import pytest
    from sqlalchemy.exc import DBAPIError

    with pytest.raises(DBAPIError):
        async with sessionmaker() as session, session.begin():
            await session.execute(
                text(
                    "INSERT INTO marketing_events (event_id, event_type, event_payload, source_system, status) "
                    "VALUES ('x', 'purchase_completed', '{}', 'oms_direct', 'pending')"
                )
            )


async def test_invalid_payload_json_fails_with_the_reason(client, sessionmaker) -> None:
    await create_storefronts(client, "bosley")
    async with sessionmaker() as session, session.begin():
        await session.execute(
            text(
                "INSERT INTO marketing_events (event_id, storefront_code, event_type, event_payload, source_system, status) "
                "VALUES ('o1', 'bosley', 'purchase_completed', 'not json', 'oms_direct', 'pending')"
            )
        )
    async with sessionmaker() as session, session.begin():
        await session.run_sync(dispatcher().route, 100)
    [event] = await _events(sessionmaker)
    assert event.status == "failed"
    assert "event_payload" in (event.status_detail or "")


def test_a_payload_event_time_beyond_utc_falls_back_to_the_arrival_time() -> None:
    """A direct INSERT's payload time that cannot be converted to UTC is as unreadable as
    one that does not parse: the event goes out with the time it arrived."""
    arrived = datetime(2026, 1, 15, 10, 25, tzinfo=UTC)
    for when, expected in (
        ("0001-01-01T00:00:00+14:00", arrived),
        ("9999-12-31T23:59:59-14:00", arrived),
        ("not a time", arrived),
        ("2026-01-15T12:25:00+02:00", datetime(2026, 1, 15, 10, 25, tzinfo=UTC)),
    ):
        event = StoredEvent(1, "order123", "purchase_completed", None, arrived, "bosley", {})
        event.payload["event_time"] = when
        assert event.when() == expected, when
