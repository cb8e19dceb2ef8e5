"""Deploys end to end: POST /api/v1/deploy queues a durable task in the answering
transaction, a worker creates the campaign on the platform's sandbox fake, the ticket
follows; 429, 5xx and other 4xx as the seed handles them; a platform failing after it
created the campaign gets no second one."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from omnirelay.models import Delivery, DeliveryRequest, TraffickingCredential
from omnirelay.sandbox.campaigns import CAMPAIGNS, AfterCreateFault
from omnirelay.sandbox.core import SANDBOX, FaultConfig
from tests.trafficking.helpers import campaign, created, master_data
from tests.trafficking.platforms.conftest import ACCOUNTS, CONFIGS, SANDBOX_PREFIX

TOKEN = "deploy/token+with=odd&chars"
DEV_TOKEN = "google-developer-token"
PLATFORMS = ["META", "TIKTOK", "SNAPCHAT", "PINTEREST", "GOOGLE_ADS"]


@pytest.fixture(autouse=True)
def campaigns_store() -> Any:
    CAMPAIGNS.reset()
    yield CAMPAIGNS
    CAMPAIGNS.reset()


async def ready_ticket(client: httpx.AsyncClient, platform: str = "META") -> dict[str, Any]:
    """A READY_FOR_API ticket for ``platform``, its brand holding sandbox credentials."""
    data = await master_data(client)
    channel = data["meta"] if platform == "META" else data["tiktok"]
    if platform not in ("META", "TIKTOK"):
        channel = await created(
            client, "/api/v1/channels", {"platform_name": platform, "api_identifier": platform}
        )
    made = await campaign(client, data)
    settings: dict[str, Any] = {
        "brand_id": data["brand"]["id"],
        "platform": platform,
        "account_id": ACCOUNTS[platform],
        "access_token": TOKEN,
        "base_url": f"http://sandbox/{SANDBOX_PREFIX[platform]}",
    }
    if platform == "GOOGLE_ADS":
        settings["secrets"] = {"developer_token": DEV_TOKEN}
    await created(client, "/api/v1/credentials", settings)
    ticket = await created(
        client,
        "/api/v1/tickets",
        {
            "campaign_id": made["id"],
            "channel_id": channel["id"],
            "payload_config": CONFIGS[platform],
            "start_date": "2030-05-01",
        },
    )
    moved = await client.put(f"/api/v1/tickets/{ticket['id']}", json={"status": "QA_TESTING"})
    assert moved.json()["status"] == "READY_FOR_API", moved.json()["qa_failure_reason"]
    return dict(moved.json())


async def deploy(client: httpx.AsyncClient, ticket: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/api/v1/deploy", json={"ticket_id": ticket["id"]})
    assert response.status_code == 202, response.text
    return dict(response.json())


async def status(client: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/deploy/status/{task_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def make_due(app: Any) -> None:
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(update(Delivery).values(next_attempt_at=datetime.now(UTC)))


def platform_campaigns(platform: str) -> list[Any]:
    key = SANDBOX_PREFIX[platform]
    return [c for c in CAMPAIGNS.campaigns if c.platform == key and c.kind == "campaign"]


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_a_deploy_creates_the_campaign_and_writes_its_id_back(
    client: httpx.AsyncClient, worker: Any, platform: str
) -> None:
    ticket = await ready_ticket(client, platform)
    queued = await deploy(client, ticket)
    assert queued["status"] == "queued" and queued["ticket_id"] == ticket["id"]
    assert queued["message"].startswith("Deployment queued for platform: ")
    assert (await status(client, queued["task_id"]))["status"] == "PENDING"

    await worker.drain()

    done = await status(client, queued["task_id"])
    [made] = platform_campaigns(platform)
    platform_id = made.id.rsplit("/", 1)[-1]
    assert done["status"] == "SUCCESS", done
    assert done["result"] == {"status": "success", "external_platform_id": platform_id}
    after = (await client.get(f"/api/v1/tickets/{ticket['id']}")).json()
    assert after["status"] == "TRAFFICKED_SUCCESS"
    assert after["external_platform_id"] == platform_id
    assert made.name == ticket["deployed_name"]
    history = (await client.get(f"/api/v1/tickets/{ticket['id']}/history")).json()["items"]
    assert any(
        h["to_status"] == "TRAFFICKED_SUCCESS" and h["changed_by"] == "deploy" for h in history
    )


async def test_the_seed_message_names_the_platform(client: httpx.AsyncClient) -> None:
    ticket = await ready_ticket(client, "META")
    assert (await deploy(client, ticket))["message"] == "Deployment queued for platform: Meta"


async def test_deploying_again_while_queued_returns_the_same_task(
    client: httpx.AsyncClient, app: Any
) -> None:
    ticket = await ready_ticket(client)
    first, second = await deploy(client, ticket), await deploy(client, ticket)
    assert first["task_id"] == second["task_id"]
    async with app.state.sessionmaker() as session:
        tasks = (await session.execute(select(Delivery).where(Delivery.kind == "deploy"))).all()
    assert len(tasks) == 1


async def test_unknown_ticket_is_404_and_a_ticket_not_ready_is_400(
    client: httpx.AsyncClient,
) -> None:
    missing = await client.post(
        "/api/v1/deploy", json={"ticket_id": "00000000-0000-4000-8000-000000000000"}
    )
    assert missing.status_code == 404
    data = await master_data(client)
    made = await campaign(client, data)
    draft = await created(
        client, "/api/v1/tickets", {"campaign_id": made["id"], "channel_id": data["meta"]["id"]}
    )
    refused = await client.post("/api/v1/deploy", json={"ticket_id": draft["id"]})
    assert refused.status_code == 400
    assert "READY_FOR_API" in refused.json()["detail"]
    bad = await client.post("/api/v1/deploy", json={"ticket_id": "not-a-uuid"})
    assert bad.status_code == 422
    assert (await client.get("/api/v1/deploy/status/nope")).status_code == 404


async def test_429_waits_for_retry_after_then_succeeds(
    client: httpx.AsyncClient, worker: Any, app: Any
) -> None:
    ticket = await ready_ticket(client)
    queued = await deploy(client, ticket)
    SANDBOX.faults["meta"] = FaultConfig(kind="429", retry_after=120)
    await worker.drain()
    waiting = await status(client, queued["task_id"])
    assert waiting["status"] == "RETRY" and waiting["attempts"] == 1
    assert "API Error 429" in waiting["result"]["error"]
    next_at = datetime.fromisoformat(waiting["next_attempt_at"])
    assert (next_at - datetime.now(UTC)).total_seconds() > 100  # Retry-After honoured
    SANDBOX.faults.clear()
    await make_due(app)
    await worker.drain()
    assert (await status(client, queued["task_id"]))["status"] == "SUCCESS"
    assert len(platform_campaigns("META")) == 1


async def test_5xx_backs_off_then_succeeds(
    client: httpx.AsyncClient, worker: Any, app: Any
) -> None:
    ticket = await ready_ticket(client, "TIKTOK")
    queued = await deploy(client, ticket)
    SANDBOX.faults["tiktok"] = FaultConfig(kind="503")
    await worker.drain()
    assert (await status(client, queued["task_id"]))["status"] == "RETRY"
    SANDBOX.faults.clear()
    await make_due(app)
    await worker.drain()
    assert (await status(client, queued["task_id"]))["status"] == "SUCCESS"


async def test_other_4xx_fails_the_ticket_with_the_api_error(
    client: httpx.AsyncClient, worker: Any
) -> None:
    ticket = await ready_ticket(client)
    queued = await deploy(client, ticket)
    SANDBOX.faults["meta"] = FaultConfig(kind="invalid")
    await worker.drain()
    failed = await status(client, queued["task_id"])
    assert failed["status"] == "FAILURE" and failed["attempts"] == 1
    after = (await client.get(f"/api/v1/tickets/{ticket['id']}")).json()
    assert after["status"] == "FAILED"
    assert after["qa_failure_reason"].startswith("API Error 400: ")
    assert platform_campaigns("META") == []


@pytest.mark.parametrize("platform", ["META", "TIKTOK", "GOOGLE_ADS"])
async def test_a_platform_failing_after_it_created_gets_no_second_campaign(
    client: httpx.AsyncClient, worker: Any, app: Any, platform: str
) -> None:
    ticket = await ready_ticket(client, platform)
    queued = await deploy(client, ticket)
    skip = 1 if platform == "GOOGLE_ADS" else 0  # Google: after the budget, the campaign
    CAMPAIGNS.faults[SANDBOX_PREFIX[platform]] = AfterCreateFault(mode="500", skip=skip)
    await worker.drain()
    assert (await status(client, queued["task_id"]))["status"] == "RETRY"
    [made] = platform_campaigns(platform)
    await make_due(app)
    await worker.drain()
    done = await status(client, queued["task_id"])
    assert done["status"] == "SUCCESS"
    assert done["result"]["external_platform_id"] == made.id.rsplit("/", 1)[-1]
    assert len(platform_campaigns(platform)) == 1


async def test_missing_credentials_fail_the_deploy_saying_so(
    client: httpx.AsyncClient, worker: Any, app: Any
) -> None:
    ticket = await ready_ticket(client)
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(update(TraffickingCredential).values(is_active=False))
    queued = await deploy(client, ticket)
    await worker.drain()
    assert (await status(client, queued["task_id"]))["status"] == "FAILURE"
    after = (await client.get(f"/api/v1/tickets/{ticket['id']}")).json()
    assert after["status"] == "FAILED"
    assert "no active META credentials" in after["qa_failure_reason"]


async def test_the_token_is_in_no_stored_request_nor_answer_nor_log_line(
    client: httpx.AsyncClient,
    worker: Any,
    app: Any,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # every logger at DEBUG, whatever tests before this one set (a disabled logger included)
    for name in ["", "httpx", "httpcore", "omnirelay", *logging.root.manager.loggerDict]:
        caplog.set_level(logging.DEBUG, logger=name)
        if logging.getLogger(name).disabled:
            monkeypatch.setattr(logging.getLogger(name), "disabled", False)
    ticket = await ready_ticket(client, "GOOGLE_ADS")
    queued = await deploy(client, ticket)
    SANDBOX.faults["google_ads"] = FaultConfig(kind="invalid")  # an error, quoted back
    await worker.drain()
    answers = [
        (await client.get(f"/api/v1/deploy/status/{queued['task_id']}")).text,
        (await client.get(f"/api/v1/tickets/{ticket['id']}")).text,
        (await client.get("/api/v1/credentials")).text,
    ]
    async with app.state.sessionmaker() as session:
        rows = (await session.execute(select(DeliveryRequest))).scalars().all()
    assert rows  # each step's request is in the audit
    stored = [f"{r.url} {r.request_body} {r.response_body} {r.error}" for r in rows]
    logged = [record.getMessage() for record in caplog.records]
    assert logged
    for text in answers + stored + logged:
        assert TOKEN not in text and DEV_TOKEN not in text


async def test_an_ingest_key_cannot_deploy_and_a_read_key_only_reads(
    client: httpx.AsyncClient,
) -> None:
    ticket = await ready_ticket(client)
    queued = await deploy(client, ticket)
    for scope, deploy_status, read_status in (("ingest", 403, 403), ("read", 403, 200)):
        made = await client.post("/admin/v1/keys", json={"name": scope, "scopes": [scope]})
        bearer = {"authorization": f"Bearer {made.json()['bearer_token']}"}
        response = await client.post(
            "/api/v1/deploy", json={"ticket_id": ticket["id"]}, headers=bearer, auth=None
        )
        assert response.status_code == deploy_status, scope
        read = await client.get(
            f"/api/v1/deploy/status/{queued['task_id']}", headers=bearer, auth=None
        )
        assert read.status_code == read_status, scope


async def test_the_demo_ticket_deploys_to_the_sandbox(
    client: httpx.AsyncClient, worker: Any, app: Any
) -> None:
    from omnirelay.trafficking.demo import create_demo_trafficking

    async with app.state.sessionmaker() as session, session.begin():
        first = await create_demo_trafficking(
            session, app.state.vault, "http://sandbox", app.state.taxonomy
        )
    async with app.state.sessionmaker() as session, session.begin():
        again = await create_demo_trafficking(
            session, app.state.vault, "http://sandbox", app.state.taxonomy
        )
    assert again.id == first.id  # set up once; the ready ticket is reused
    queued = await deploy(client, {"id": str(first.id)})
    assert queued["message"] == "Deployment queued for platform: Meta"
    await worker.drain()
    assert (await status(client, queued["task_id"]))["status"] == "SUCCESS"
    year = datetime.now(UTC).year  # the campaign takes the current year
    assert [c.name for c in platform_campaigns("META")] == [f"DEMO_US_META_{year}_Launch"]
