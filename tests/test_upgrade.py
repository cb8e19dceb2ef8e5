"""``omnirelay db upgrade`` keeps what the previous schema wrote: rows, attempts, dead letters."""

from __future__ import annotations

import asyncio
import json
import os

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from omnirelay.db import create_engine
from omnirelay.migrations import alembic_config
from tests.conftest import (
    BACKENDS,
    _create_server_database,
    _drop_server_database,
    _unreachable,
)

PREVIOUS_HEAD = "0002"


@pytest.fixture(params=BACKENDS)
async def empty_database(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[misc]
    backend = request.param
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'upgrade.db'}"
        return
    name = f"omnirelay_upgrade_{os.getpid()}"
    try:
        url = await _create_server_database(backend, name)
    except Exception as exc:  # driver errors differ per backend
        _unreachable(backend, exc)
    yield url
    await _drop_server_database(backend, name)


async def test_upgrade_from_the_previous_head_keeps_deliveries_and_attempts(
    empty_database: str,
) -> None:
    config = alembic_config(empty_database)
    await asyncio.to_thread(command.upgrade, config, PREVIOUS_HEAD)
    engine = create_engine(empty_database)
    async with engine.begin() as connection:
        statements = [
            "INSERT INTO storefronts (id, storefront_id, name, is_active) VALUES (1, 'bosley', 'B', :t)",
            "INSERT INTO marketing_events (id, event_id, storefront_id, storefront_code,"
            " event_type, event_payload, status) VALUES"
            " (1, 'ORD1', 1, 'bosley', 'purchase_completed', '{}', 'failed')",
            "INSERT INTO event_deliveries (id, kind, event_id, storefront_id, destination_type,"
            " destination_code, destination_key, credential_id, status, attempt_count,"
            " next_attempt_at, last_error) VALUES (1, 'relay', 1, 1, 'platform', 'meta',"
            " 'platform:7', 7, 'dead', 5, CURRENT_TIMESTAMP, 'gave up after 5 attempts')",
            "INSERT INTO event_attempts (event_id, delivery_id, destination_type,"
            " destination_code, attempt_number, status, attempted_at) VALUES"
            " (1, 1, 'platform', 'meta', 5, 'retry', CURRENT_TIMESTAMP)",
            # an attempt an older version wrote without its delivery: linked on upgrade
            "INSERT INTO event_attempts (event_id, delivery_id, destination_type,"
            " destination_code, attempt_number, status, attempted_at) VALUES"
            " (1, NULL, 'platform', 'meta', 4, 'retry', CURRENT_TIMESTAMP)",
        ]
        for statement in statements:
            await connection.execute(text(statement), {"t": True})
    await engine.dispose()

    await asyncio.to_thread(command.upgrade, config, "head")

    engine = create_engine(empty_database)
    async with engine.connect() as connection:
        delivery = (
            await connection.execute(
                text(
                    "SELECT status, attempt_count, attempt_base, last_error, kind, result"
                    " FROM event_deliveries"
                )
            )
        ).one()
        attempts = (
            await connection.execute(
                text("SELECT delivery_id, attempt_number FROM event_attempts ORDER BY id")
            )
        ).all()
    async with engine.begin() as connection:  # a delivery whose subject is not an event
        await connection.execute(
            text(
                "INSERT INTO event_deliveries (id, kind, event_id, subject_ref, storefront_id,"
                " destination_type, destination_code, destination_key, status, attempt_count,"
                " attempt_base, next_attempt_at) VALUES (2, 'deploy', NULL, 'ticket-1', 1,"
                " 'platform', 'meta', 'platform:7', 'pending', 0, 0, CURRENT_TIMESTAMP)"
            )
        )
        await connection.execute(
            text(
                "INSERT INTO event_attempts (event_id, delivery_id, destination_type,"
                " destination_code, attempt_number, status, attempted_at) VALUES"
                " (NULL, 2, 'platform', 'meta', 1, 'retry', CURRENT_TIMESTAMP)"
            )
        )
    with pytest.raises(IntegrityError):  # an attempt belongs to a delivery
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO event_attempts (event_id, delivery_id, destination_type,"
                    " destination_code, attempt_number, status, attempted_at) VALUES"
                    " (1, NULL, 'platform', 'meta', 6, 'retry', CURRENT_TIMESTAMP)"
                )
            )
    await engine.dispose()
    assert tuple(delivery) == ("dead", 5, 0, "gave up after 5 attempts", "relay", None)
    assert [tuple(a) for a in attempts] == [(1, 5), (1, 4)]


async def test_upgrade_marks_the_destination_fields_of_stored_platforms(
    empty_database: str,
) -> None:
    config = alembic_config(empty_database)
    await asyncio.to_thread(command.upgrade, config, "0004")
    engine = create_engine(empty_database)
    old_webhook = [
        {"name": "url", "label": "Endpoint URL", "secret": False, "required": True},
        {"name": "secret", "label": "HMAC signing secret", "secret": True, "required": False},
    ]
    custom = [
        {"name": "callback_url", "label": "Callback", "secret": False, "required": True},
        {"name": "api_key", "label": "API key", "secret": True, "required": True},
    ]
    async with engine.begin() as connection:  # the rows as an older catalog wrote them
        await connection.execute(
            text(
                "UPDATE ad_analytics_platforms SET credential_fields = :f WHERE platform_code = 'webhook'"
            ),
            {"f": json.dumps(old_webhook)},
        )
        await connection.execute(
            text(
                "INSERT INTO ad_analytics_platforms (platform_code, name, category, auth_type,"
                " credential_fields, is_active) VALUES ('acme', 'Acme', 'ads', 'api_key', :f, :t)"
            ),
            {"f": json.dumps(custom), "t": True},
        )
    await engine.dispose()

    await asyncio.to_thread(command.upgrade, config, "head")

    engine = create_engine(empty_database)
    async with engine.connect() as connection:
        rows = dict(
            (
                await connection.execute(
                    text(
                        "SELECT platform_code, credential_fields FROM ad_analytics_platforms"
                        " WHERE platform_code IN ('webhook', 'acme', 'braze', 'everflow')"
                    )
                )
            ).all()
        )
    await engine.dispose()
    kinds = {
        code: {f["name"]: f.get("kind") for f in json.loads(fields)}
        for code, fields in rows.items()
    }
    assert kinds == {
        "webhook": {"url": "url", "secret": None},
        "acme": {"callback_url": "url", "api_key": None},
        "braze": {"rest_endpoint": "url", "api_key": None},
        "everflow": {"tracking_domain": "host", "network_id": None},
    }


async def _scalar(connection, statement: str, **values) -> int:  # type: ignore[no-untyped-def]
    return int((await connection.execute(text(statement), values)).scalar_one())


async def test_upgrade_keeps_rows_and_attempts_and_ids_are_not_reused_after_it(
    empty_database: str,
) -> None:
    config = alembic_config(empty_database)
    await asyncio.to_thread(command.upgrade, config, "0006")
    engine = create_engine(empty_database)
    async with engine.begin() as connection:  # ids given by the database, as in production
        for code in ("eshop", "fshop"):
            await connection.execute(
                text(
                    "INSERT INTO storefronts (storefront_id, name, is_active) VALUES (:c, :c, :t)"
                ),
                {"c": code, "t": True},
            )
        eshop = await _scalar(
            connection, "SELECT id FROM storefronts WHERE storefront_id = 'eshop'"
        )
        webhook = await _scalar(
            connection, "SELECT id FROM ad_analytics_platforms WHERE platform_code = 'webhook'"
        )
        meta = await _scalar(
            connection, "SELECT id FROM ad_analytics_platforms WHERE platform_code = 'meta'"
        )
        for platform in (meta, webhook):
            await connection.execute(
                text(
                    "INSERT INTO platform_credentials (storefront_id, platform_id,"
                    " credentials_encrypted, is_active) VALUES (:s, :p, 'x', :t)"
                ),
                {"s": eshop, "p": platform, "t": True},
            )
        deleted = await _scalar(
            connection, "SELECT id FROM platform_credentials WHERE platform_id = :p", p=webhook
        )
        await connection.execute(
            text(
                "INSERT INTO marketing_events (event_id, storefront_id, storefront_code,"
                " event_type, event_payload, status) VALUES"
                " ('ORD1', :s, 'eshop', 'purchase_completed', '{}', 'queued')"
            ),
            {"s": eshop},
        )
        event = await _scalar(connection, "SELECT id FROM marketing_events")
        await connection.execute(
            text(
                "INSERT INTO event_deliveries (kind, event_id, storefront_id, destination_type,"
                " destination_code, destination_key, credential_id, status, attempt_count,"
                " attempt_base, next_attempt_at, last_error) VALUES ('relay', :e, :s, 'platform',"
                " 'webhook', :k, :c, 'pending', 1, 0, CURRENT_TIMESTAMP, 'HTTP 500')"
            ),
            {"e": event, "s": eshop, "k": f"platform:{deleted}", "c": deleted},
        )
        delivery = await _scalar(connection, "SELECT id FROM event_deliveries")
        await connection.execute(
            text(
                "INSERT INTO event_attempts (event_id, delivery_id, destination_type,"
                " destination_code, attempt_number, status, http_status, attempted_at) VALUES"
                " (:e, :d, 'platform', 'webhook', 1, 'retry', 500, CURRENT_TIMESTAMP)"
            ),
            {"e": event, "d": delivery},
        )
        # the credential is deleted while its delivery is retrying; it had the highest id
        await connection.execute(
            text("DELETE FROM platform_credentials WHERE id = :c"), {"c": deleted}
        )
    await engine.dispose()

    await asyncio.to_thread(command.upgrade, config, "head")

    engine = create_engine(empty_database)
    async with engine.begin() as connection:
        fshop = await _scalar(
            connection, "SELECT id FROM storefronts WHERE storefront_id = 'fshop'"
        )
        await connection.execute(
            text(
                "INSERT INTO platform_credentials (storefront_id, platform_id,"
                " credentials_encrypted, is_active) VALUES (:s, :p, 'y', :t)"
            ),
            {"s": fshop, "p": webhook, "t": True},
        )
        created = await _scalar(
            connection,
            "SELECT id FROM platform_credentials WHERE storefront_id = :s AND platform_id = :p",
            s=fshop,
            p=webhook,
        )
        kept = (
            await connection.execute(
                text(
                    "SELECT d.id, d.credential_id, d.status, d.last_error, a.attempt_number,"
                    " a.http_status FROM event_deliveries d"
                    " JOIN event_attempts a ON a.delivery_id = d.id"
                )
            )
        ).all()
        # and a delivery deleted after the upgrade does not give its id away either
        await connection.execute(
            text("DELETE FROM event_deliveries WHERE id = :d"), {"d": delivery}
        )
        await connection.execute(
            text(
                "INSERT INTO event_deliveries (kind, event_id, storefront_id, destination_type,"
                " destination_code, destination_key, credential_id, status, attempt_count,"
                " attempt_base, next_attempt_at) VALUES ('relay', :e, :s, 'platform',"
                " 'webhook', :k, :c, 'pending', 0, 0, CURRENT_TIMESTAMP)"
            ),
            {"e": event, "s": fshop, "k": f"platform:{created}", "c": created},
        )
        next_delivery = await _scalar(connection, "SELECT id FROM event_deliveries")
        orphans = await _scalar(connection, "SELECT COUNT(*) FROM event_attempts")
    await engine.dispose()
    assert [tuple(row) for row in kept] == [(delivery, deleted, "pending", "HTTP 500", 1, 500)]
    assert created > deleted, "the deleted credential's id was given to the next one"
    assert next_delivery > delivery
    assert orphans == 0  # the attempt went with its delivery (ON DELETE CASCADE still holds)
