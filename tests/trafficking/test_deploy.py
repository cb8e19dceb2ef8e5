"""Deploys end to end: POST /api/v1/deploy queues a durable task in the answering
transaction, a worker creates the campaign on the platform's sandbox fake, the ticket
follows; 429, 5xx and other 4xx as the seed handles them; a platform failing after it
created the campaign gets no second one."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from omnirelay.db import run_transaction
from omnirelay.delivery.claim import Lease, claim_due
from omnirelay.delivery.transports import HttpTransport
from omnirelay.destinations.base import HttpResult, PreparedRequest
from omnirelay.models import (
    Campaign,
    Delivery,
    DeliveryRequest,
    Ticket,
    TicketStatusHistory,
    TraffickingCredential,
)
from omnirelay.models.base import utcnow
from omnirelay.pipeline import create_worker
from omnirelay.sandbox.campaigns import CAMPAIGNS, AfterCreateFault
from omnirelay.sandbox.core import SANDBOX, FaultConfig
from omnirelay.trafficking.platforms import client_for
from omnirelay.trafficking.platforms.base import PlatformCredentials, Verdict
from omnirelay.trafficking.tickets import draft_of
from tests.trafficking.helpers import campaign, created, master_data
from tests.trafficking.platforms.conftest import ACCOUNTS, CONFIGS, SANDBOX_PREFIX, run_deploy

TOKEN = "deploy/token+with=odd&chars"
DEV_TOKEN = "google-developer-token"
PLATFORMS = ["META", "TIKTOK", "SNAPCHAT", "PINTEREST", "GOOGLE_ADS"]


@pytest.fixture(autouse=True)
def campaigns_store() -> Any:
    CAMPAIGNS.reset()
    yield CAMPAIGNS
    CAMPAIGNS.reset()


async def ready_ticket(
    client: httpx.AsyncClient, platform: str = "META", platform_name: str | None = None
) -> dict[str, Any]:
    """A READY_FOR_API ticket for ``platform`` (its channel's ``platform_name`` may be an
    alias of it), its brand holding sandbox credentials."""
    data = await master_data(client)
    channel = data["meta"] if platform == "META" else data["tiktok"]
    if platform not in ("META", "TIKTOK") or platform_name:
        name = platform_name or platform
        channel = await created(
            client, "/api/v1/channels", {"platform_name": name, "api_identifier": name}
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


@pytest.mark.parametrize(
    ("platform", "alias"), [("META", "Facebook"), ("SNAPCHAT", "snap"), ("GOOGLE_ADS", "google")]
)
async def test_a_channel_named_by_an_alias_passes_qa_and_deploys(
    client: httpx.AsyncClient, worker: Any, platform: str, alias: str
) -> None:
    ticket = await ready_ticket(client, platform, platform_name=alias)  # QA passed
    queued = await deploy(client, ticket)
    await worker.drain()
    assert (await status(client, queued["task_id"]))["status"] == "SUCCESS"
    assert len(platform_campaigns(platform)) == 1


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


@pytest.mark.parametrize(("platform", "signal"), [("META", "80004"), ("TIKTOK", "40100")])
async def test_a_throttle_the_platform_answers_in_its_body_waits_then_succeeds(
    client: httpx.AsyncClient, worker: Any, app: Any, platform: str, signal: str
) -> None:
    """Meta answers a rate limit as HTTP 400 with code 80004, TikTok as HTTP 200 with code
    40100 (the sandbox answers so): a retry, not a failed ticket."""
    ticket = await ready_ticket(client, platform)
    queued = await deploy(client, ticket)
    SANDBOX.faults[SANDBOX_PREFIX[platform]] = FaultConfig(kind="throttle")
    await worker.drain()
    waiting = await status(client, queued["task_id"])
    assert waiting["status"] == "RETRY", waiting
    assert signal in waiting["result"]["error"]
    assert (await client.get(f"/api/v1/tickets/{ticket['id']}")).json()["status"] == "READY_FOR_API"
    SANDBOX.faults.clear()
    await make_due(app)
    await worker.drain()
    assert (await status(client, queued["task_id"]))["status"] == "SUCCESS"
    assert len(platform_campaigns(platform)) == 1


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


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_a_worker_that_died_after_the_platform_created_leaves_no_second_campaign(
    client: httpx.AsyncClient, worker: Any, app: Any, sandbox_http: httpx.AsyncClient, platform: str
) -> None:
    """A worker killed between the platform's answer and recording leaves the database as
    it was before the pass (no attempt, the ticket READY_FOR_API) and the campaign on the
    platform: the next holder's first attempt must find it, not create it again."""
    ticket = await ready_ticket(client, platform)
    queued = await deploy(client, ticket)
    async with app.state.sessionmaker() as session:
        row, made = (
            await session.execute(
                select(Ticket, Campaign)
                .join(Campaign, Campaign.id == Ticket.campaign_id)
                .where(Ticket.id == uuid.UUID(ticket["id"]))
            )
        ).one()
        draft = draft_of(row, made)
    creds = PlatformCredentials.from_mapping(
        {
            "account_id": ACCOUNTS[platform],
            "access_token": TOKEN,
            "developer_token": DEV_TOKEN,
            "base_url": f"http://sandbox/{SANDBOX_PREFIX[platform]}",
        }
    )
    transport = HttpTransport(sandbox_http)

    async def send(request: PreparedRequest) -> HttpResult:  # the dead worker's requests
        body = request.body_bytes() if request.has_body else None
        return await transport.send(transport.build(request, body))

    done, _ = await run_deploy(client_for(platform), draft, creds, send)
    assert done.outcome.verdict == Verdict.CREATED
    [first] = platform_campaigns(platform)

    await worker.drain()

    finished = await status(client, queued["task_id"])
    assert finished["status"] == "SUCCESS", finished
    assert finished["result"]["external_platform_id"] == first.id.rsplit("/", 1)[-1]
    assert len(platform_campaigns(platform)) == 1


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_a_redeploy_after_a_failure_finds_the_campaign_the_first_deploy_created(
    client: httpx.AsyncClient, worker: Any, app: Any, platform: str
) -> None:
    """The platform created the campaign but its answer was lost; the trafficker marks the
    ticket FAILED, sends it through QA again and deploys it anew (a new task, no attempt
    yet): the new deploy adopts the campaign the first one created."""
    ticket = await ready_ticket(client, platform)
    first = await deploy(client, ticket)
    skip = 1 if platform == "GOOGLE_ADS" else 0  # Google: after the budget, the campaign
    CAMPAIGNS.faults[SANDBOX_PREFIX[platform]] = AfterCreateFault(mode="500", skip=skip)
    await worker.drain()
    assert (await status(client, first["task_id"]))["status"] == "RETRY"
    [made] = platform_campaigns(platform)
    path = f"/api/v1/tickets/{ticket['id']}"
    for target in ("FAILED", "QA_TESTING"):
        body: dict[str, Any] = {"status": target}
        if target == "FAILED":
            body["qa_failure_reason"] = "the platform did not answer; deploying again"
        moved = await client.put(path, json=body)
        assert moved.status_code == 200, moved.text
    assert moved.json()["status"] == "READY_FOR_API"

    second = await deploy(client, ticket)
    assert second["task_id"] != first["task_id"]
    await make_due(app)
    await worker.drain()

    done = await status(client, second["task_id"])
    assert done["status"] == "SUCCESS", done
    assert done["result"]["external_platform_id"] == made.id.rsplit("/", 1)[-1]
    assert len(platform_campaigns(platform)) == 1
    assert (await client.get(path)).json()["status"] == "TRAFFICKED_SUCCESS"


async def test_a_deploy_held_by_a_worker_is_started_and_its_ticket_cannot_be_pulled_back(
    client: httpx.AsyncClient, worker: Any, app: Any
) -> None:
    ticket = await ready_ticket(client)
    queued = await deploy(client, ticket)
    now = utcnow()
    held = await run_transaction(
        app.state.sessionmaker,
        lambda s: claim_due(s, Lease.starting("busy:1", now, 60), 10, now, kinds=["deploy"]),
    )
    assert [d.subject_ref for d in held] == [queued["task_id"]]
    assert (await status(client, queued["task_id"]))["status"] == "STARTED"
    path = f"/api/v1/tickets/{ticket['id']}"
    pulled = await client.put(path, json={"status": "DRAFT"})
    assert pulled.status_code == 409
    assert queued["task_id"] in pulled.json()["detail"] and "running" in pulled.json()["detail"]
    deleted = await client.delete(path)
    assert deleted.status_code == 409 and queued["task_id"] in deleted.json()["detail"]
    assert (await client.get(path)).json()["status"] == "READY_FOR_API"


async def test_pulling_a_ticket_back_cancels_its_queued_deploy(
    client: httpx.AsyncClient, worker: Any, app: Any
) -> None:
    ticket = await ready_ticket(client)
    queued = await deploy(client, ticket)
    path = f"/api/v1/tickets/{ticket['id']}"
    assert (await client.delete(path)).status_code == 409  # its deploy is queued
    moved = await client.put(path, json={"status": "DRAFT", "reason": "budget changes"})
    assert moved.status_code == 200, moved.text
    cancelled = await status(client, queued["task_id"])
    assert cancelled["status"] == "FAILURE"
    assert cancelled["result"]["error"] == "cancelled: ticket moved to DRAFT by admin"
    await worker.drain()
    assert platform_campaigns("META") == []  # nothing was sent
    assert (await client.get(path)).json()["status"] == "DRAFT"
    assert (await client.delete(path)).status_code == 204


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


async def test_a_platform_error_quoting_the_token_is_kept_without_it(
    client: httpx.AsyncClient, app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Platforms quote a bad token back ("Invalid OAuth access token: EAAB..."): the
    ticket's failure reason, its history, the task's status and the audit keep the error
    with the token masked."""
    caplog.set_level(logging.DEBUG)

    def quoting(request: httpx.Request) -> httpx.Response:
        token = request.headers["authorization"].removeprefix("Bearer ")
        error = {"message": f"Invalid OAuth access token: {token}", "type": "OAuthException"}
        return httpx.Response(400, json={"error": {**error, "code": 190}})

    ticket = await ready_ticket(client)
    queued = await deploy(client, ticket)
    async with httpx.AsyncClient(transport=httpx.MockTransport(quoting)) as platform:
        settings = app.state.settings
        quoted = create_worker(
            settings, app.state.sessionmaker, app.state.vault, app.state.metrics, client=platform
        )
        await quoted.drain()
    failed = await status(client, queued["task_id"])
    assert failed["status"] == "FAILURE"
    after = await client.get(f"/api/v1/tickets/{ticket['id']}")
    assert after.json()["status"] == "FAILED"
    assert "Invalid OAuth access token: " in after.json()["qa_failure_reason"]
    history = await client.get(f"/api/v1/tickets/{ticket['id']}/history")
    assert "Invalid OAuth access token: " in history.text
    async with app.state.sessionmaker() as session:
        rows = (await session.execute(select(DeliveryRequest))).scalars().all()
        reasons = (await session.execute(select(TicketStatusHistory.reason))).scalars().all()
    stored = [f"{r.url} {r.request_body} {r.response_body} {r.error}" for r in rows]
    texts = [after.text, history.text, str(failed), *stored, *map(str, reasons)]
    texts += [record.getMessage() for record in caplog.records]
    for text in texts:
        assert TOKEN not in text, text


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


async def test_waiting_on_the_status_answers_once_the_deploy_has_finished(
    client: httpx.AsyncClient, worker: Any
) -> None:
    ticket = await ready_ticket(client)
    queued = await deploy(client, ticket)
    url = f"/api/v1/deploy/status/{queued['task_id']}"
    still = await client.get(url, params={"wait": 0.3})  # nothing works it yet
    assert still.status_code == 200 and still.json()["status"] == "PENDING"

    async def work_soon() -> None:
        await asyncio.sleep(0.2)
        await worker.drain()

    working = asyncio.create_task(work_soon())
    waited = await client.get(url, params={"wait": 20})
    await working
    assert waited.json()["status"] == "SUCCESS", waited.json()
    assert (await client.get(url, params={"wait": 31})).status_code == 422
    assert (await client.get(url, params={"wait": -1})).status_code == 422
