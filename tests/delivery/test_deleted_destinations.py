"""A retrying delivery whose credential or sGTM config was deleted goes nowhere: not to the
destination created next (ids are never reused), and not to a row of another storefront or
platform that holds its id (as a database that reused ids before the upgrade may)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text

from omnirelay.sandbox.core import SANDBOX, FaultConfig
from tests.delivery.helpers import (
    add_platform,
    add_storefront,
    customer_event,
    deliveries,
    make_all_due,
    post_events,
)


async def add_webhook(client: httpx.AsyncClient, storefront: str) -> dict[str, Any]:
    response = await client.post(
        "/admin/v1/credentials",
        json={
            "storefront_id": storefront,
            "platform_code": "webhook",
            "credentials": {
                "url": f"http://sandbox/webhook/{storefront}",
                "headers": {"Authorization": f"Bearer {storefront}-token"},
            },
        },
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def add_sgtm(client: httpx.AsyncClient, storefront: str) -> dict[str, Any]:
    response = await client.post(
        "/admin/v1/sgtm-configs",
        json={
            "storefront_id": storefront,
            "sgtm_url": "http://sandbox/sgtm",
            "measurement_id": f"G-{storefront.upper()}",
            "api_secret": f"{storefront}-secret",
        },
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def retrying_delivery(
    client: httpx.AsyncClient, sessionmaker: Any, worker: Any, platform: str
) -> None:
    """One eshop event whose delivery failed once and waits to be retried."""
    SANDBOX.faults[platform] = FaultConfig(kind="500")
    await post_events(client, [customer_event(1, storefront="eshop")])
    await worker.drain()
    [delivery] = await deliveries(sessionmaker)
    assert (delivery.status, delivery.attempt_count) == ("pending", 1), delivery.last_error
    SANDBOX.reset()


async def take_id(sessionmaker: Any, table: str, new_id: int, old_id: int) -> None:
    """Give a row the id of a deleted one, as SQLite without AUTOINCREMENT did."""
    async with sessionmaker() as session, session.begin():
        await session.execute(
            text(f"UPDATE {table} SET id = :old WHERE id = :new"), {"old": old_id, "new": new_id}
        )


async def assert_sent_nowhere(sessionmaker: Any, worker: Any, reason: str) -> None:
    await make_all_due(sessionmaker)
    await worker.drain()
    assert SANDBOX.recorded() == []
    [delivery] = await deliveries(sessionmaker)
    assert (delivery.status, delivery.last_error, delivery.attempt_count) == ("skipped", reason, 1)


async def test_a_deleted_credentials_delivery_is_not_sent_to_the_credential_created_next(
    client: httpx.AsyncClient, sessionmaker: Any, worker: Any
) -> None:
    await add_storefront(client, "eshop")
    await add_storefront(client, "fshop")
    deleted = await add_webhook(client, "eshop")
    await retrying_delivery(client, sessionmaker, worker, "webhook")
    assert (await client.delete(f"/admin/v1/credentials/{deleted['id']}")).status_code == 204
    created = await add_webhook(client, "fshop")
    assert created["id"] != deleted["id"]  # ids are never given again
    await assert_sent_nowhere(sessionmaker, worker, "credential deleted")


async def successor_event_retrying(
    client: httpx.AsyncClient, worker: Any, storefront: str, platform: str
) -> None:
    """An event of the row that took the deleted one's id, waiting to be retried too: both
    deliveries are then claimed and planned together, as the original report had them."""
    SANDBOX.faults[platform] = FaultConfig(kind="500")
    await post_events(client, [customer_event(2, storefront=storefront)])
    await worker.drain()
    SANDBOX.reset()


async def assert_only_the_successor_is_sent(
    sessionmaker: Any, worker: Any, platform: str, reason: str
) -> None:
    await make_all_due(sessionmaker)
    await worker.drain()
    first, second = await deliveries(sessionmaker)
    assert (first.status, first.last_error, first.attempt_count) == ("skipped", reason, 1)
    assert second.status == "delivered", second.last_error
    sent = SANDBOX.recorded()
    assert [hit.platform for hit in sent] == [platform]
    assert "Customer1@Example.com".lower() not in str(sent[0].body).lower()
    assert "ORD00000001" not in str(sent[0].body) and "ORD00000002" in str(sent[0].body)


@pytest.mark.parametrize("successor", ["another storefront", "another platform"])
async def test_a_deleted_credentials_delivery_is_not_sent_to_a_row_that_took_its_id(
    client: httpx.AsyncClient, sessionmaker: Any, worker: Any, successor: str
) -> None:
    await add_storefront(client, "eshop")
    await add_storefront(client, "fshop")
    deleted = await add_webhook(client, "eshop")
    await retrying_delivery(client, sessionmaker, worker, "webhook")
    assert (await client.delete(f"/admin/v1/credentials/{deleted['id']}")).status_code == 204
    if successor == "another storefront":
        storefront, platform = "fshop", "webhook"
        created = await add_webhook(client, storefront)
    else:
        storefront, platform = "eshop", "meta"
        created = await add_platform(client, platform, storefront)
    await take_id(sessionmaker, "platform_credentials", created["id"], deleted["id"])
    await successor_event_retrying(client, worker, storefront, platform)
    await assert_only_the_successor_is_sent(sessionmaker, worker, platform, "credential deleted")


async def test_a_deleted_sgtm_configs_delivery_is_sent_nowhere(
    client: httpx.AsyncClient, sessionmaker: Any, worker: Any
) -> None:
    await add_storefront(client, "eshop")
    await add_storefront(client, "fshop")
    deleted = await add_sgtm(client, "eshop")
    await retrying_delivery(client, sessionmaker, worker, "sgtm")
    assert (await client.delete(f"/admin/v1/sgtm-configs/{deleted['id']}")).status_code == 204
    created = await add_sgtm(client, "fshop")
    assert created["id"] != deleted["id"]
    await assert_sent_nowhere(sessionmaker, worker, "sGTM config deleted")


async def test_a_deleted_sgtm_configs_delivery_is_not_sent_to_a_config_that_took_its_id(
    client: httpx.AsyncClient, sessionmaker: Any, worker: Any
) -> None:
    await add_storefront(client, "eshop")
    await add_storefront(client, "fshop")
    deleted = await add_sgtm(client, "eshop")
    await retrying_delivery(client, sessionmaker, worker, "sgtm")
    assert (await client.delete(f"/admin/v1/sgtm-configs/{deleted['id']}")).status_code == 204
    created = await add_sgtm(client, "fshop")
    await take_id(sessionmaker, "storefront_sgtm_config", created["id"], deleted["id"])
    await successor_event_retrying(client, worker, "fshop", "sgtm")
    await assert_only_the_successor_is_sent(sessionmaker, worker, "sgtm", "sGTM config deleted")
