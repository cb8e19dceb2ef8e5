"""Each client's requests against the running sandbox fake, including the platform
failing after it created the campaign: the retry finds it and creates no second one."""

from __future__ import annotations

from typing import Any

import pytest

from omnirelay.destinations.base import Outcome
from omnirelay.sandbox.campaigns import CAMPAIGNS, AfterCreateFault
from omnirelay.sandbox.core import SANDBOX, FaultConfig
from omnirelay.trafficking.platforms import client_for
from omnirelay.trafficking.platforms.base import Verdict
from tests.trafficking.platforms.conftest import (
    PLATFORMS,
    SANDBOX_PREFIX,
    TOKEN,
    Sender,
    creds_for,
    draft_for,
    run_deploy,
)


def sandbox_creds(platform: str) -> Any:
    return creds_for(platform, f"http://sandbox/{SANDBOX_PREFIX[platform]}")


def stored(platform: str) -> list[Any]:
    key = SANDBOX_PREFIX[platform]
    return [c for c in CAMPAIGNS.campaigns if c.platform == key and c.kind == "campaign"]


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_deploy_creates_the_campaign(platform: str, send: Sender) -> None:
    client = client_for(platform)
    done, outcomes = await run_deploy(client, draft_for(platform), sandbox_creds(platform), send)
    assert done.outcome.verdict == Verdict.CREATED, done.outcome
    [campaign] = stored(platform)
    assert done.outcome.platform_id == campaign.id.rsplit("/", 1)[-1]
    assert campaign.name == "DIS_US_META_2026_MoanaLaunch"
    delivered = done.delivery_outcome(7)
    assert delivered.outcome == Outcome.DELIVERED
    assert delivered.result == {
        "external_platform_id": done.outcome.platform_id,
        "outcome": "created",
    }
    for record in SANDBOX.recorded():
        assert TOKEN not in record.path and TOKEN not in str(record.query)


@pytest.mark.parametrize("mode", ["500", "drop"])
@pytest.mark.parametrize("platform", PLATFORMS)
async def test_fail_after_create_then_retry_finds_it(
    platform: str, mode: str, send: Sender
) -> None:
    client, creds, draft = client_for(platform), sandbox_creds(platform), draft_for(platform)
    fault_platform = SANDBOX_PREFIX[platform]
    # Google Ads: the campaign step fails, after its budget was created
    skip = 1 if platform == "GOOGLE_ADS" else 0
    CAMPAIGNS.faults[fault_platform] = AfterCreateFault(mode=mode, skip=skip)  # type: ignore[arg-type]
    first, _ = await run_deploy(client, draft, creds, send)
    assert first.outcome.verdict == Verdict.BACKOFF
    assert first.delivery_outcome(1).outcome == Outcome.RETRY
    [created] = stored(platform)

    second, outcomes = await run_deploy(client, draft, creds, send, retried=True)
    assert second.outcome.verdict == Verdict.EXISTS, outcomes
    assert second.outcome.platform_id == created.id.rsplit("/", 1)[-1]
    assert [o.step for o in outcomes] == ["lookup"]
    assert len(stored(platform)) == 1


async def test_google_ads_retry_reuses_the_budget_an_interrupted_attempt_created(
    send: Sender,
) -> None:
    client, creds, draft = (
        client_for("GOOGLE_ADS"),
        sandbox_creds("GOOGLE_ADS"),
        draft_for("GOOGLE_ADS"),
    )
    CAMPAIGNS.faults["google_ads"] = AfterCreateFault(mode="500", times=1)
    first, outcomes = await run_deploy(client, draft, creds, send)
    assert [o.step for o in outcomes] == ["budget"] and first.outcome.verdict == Verdict.BACKOFF
    second, outcomes = await run_deploy(client, draft, creds, send, retried=True)
    assert [o.step for o in outcomes] == ["lookup", "budget_lookup", "create"]
    assert second.outcome.verdict == Verdict.CREATED
    budgets = [c for c in CAMPAIGNS.campaigns if c.kind == "budget"]
    assert len(budgets) == 1
    assert stored("GOOGLE_ADS")[0].body["campaignBudget"] == budgets[0].id


async def test_google_ads_duplicate_name_without_retry_flag_is_looked_up(send: Sender) -> None:
    client, creds, draft = (
        client_for("GOOGLE_ADS"),
        sandbox_creds("GOOGLE_ADS"),
        draft_for("GOOGLE_ADS"),
    )
    first, _ = await run_deploy(client, draft, creds, send)
    # a replay that does not know an attempt got through: both names are taken
    again, outcomes = await run_deploy(client, draft, creds, send)
    assert [o.step for o in outcomes] == ["budget", "budget_lookup", "create", "lookup"]
    assert again.outcome.verdict == Verdict.EXISTS
    assert again.outcome.platform_id == first.outcome.platform_id


async def test_tiktok_request_id_dedupes_a_resend(send: Sender) -> None:
    client, creds, draft = client_for("TIKTOK"), sandbox_creds("TIKTOK"), draft_for("TIKTOK")
    CAMPAIGNS.faults["tiktok"] = AfterCreateFault(mode="drop")
    first, _ = await run_deploy(client, draft, creds, send)
    assert first.outcome.verdict == Verdict.BACKOFF
    again, outcomes = await run_deploy(client, draft, creds, send)  # no lookup: same request_id
    assert [o.step for o in outcomes] == ["create"]
    assert again.outcome.verdict == Verdict.CREATED
    [campaign] = stored("TIKTOK")
    assert again.outcome.platform_id == campaign.id
    bodies = [r.body for r in SANDBOX.recorded("tiktok") if r.method == "POST"]
    assert bodies[0]["request_id"] == bodies[1]["request_id"]


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_sandbox_throttle_and_server_errors_are_retried(platform: str, send: Sender) -> None:
    client, creds, draft = client_for(platform), sandbox_creds(platform), draft_for(platform)
    SANDBOX.faults[SANDBOX_PREFIX[platform]] = FaultConfig(kind="429", retry_after=17)
    throttled, _ = await run_deploy(client, draft, creds, send)
    assert throttled.outcome.verdict == Verdict.THROTTLED
    assert throttled.delivery_outcome(1).retry_after == 17.0
    SANDBOX.faults[SANDBOX_PREFIX[platform]] = FaultConfig(kind="503")
    down, _ = await run_deploy(client, draft, creds, send)
    assert down.outcome.verdict == Verdict.BACKOFF
    assert stored(platform) == []


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_sandbox_refusal_fails_with_the_api_error(platform: str, send: Sender) -> None:
    client, draft = client_for(platform), draft_for(platform)
    creds = sandbox_creds(platform)
    SANDBOX.faults[SANDBOX_PREFIX[platform]] = FaultConfig(kind="invalid")
    done, _ = await run_deploy(client, draft, creds, send)
    assert done.outcome.verdict == Verdict.FAILED
    assert (done.outcome.reason or "").startswith("API Error ")
    assert done.delivery_outcome(1).outcome == Outcome.PERMANENT
