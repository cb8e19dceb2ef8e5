"""Tickets: the deployed name per channel, the workflow's allowed transitions (409 naming
the next states), automatic QA on QA_TESTING through the translator registry, the
history of every change."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

import httpx
import pytest

from omnirelay.trafficking import qa
from omnirelay.trafficking.translators.base import CampaignDraft, QaProblem, Translator
from tests.trafficking.helpers import campaign, created, master_data, registered

OBJECTIVES = {"OUTCOME_AWARENESS", "OUTCOME_SALES"}


class ExampleTranslator(Translator):
    """A platform that needs an objective and a budget of at least 1.00."""

    platform: ClassVar[str] = "META"
    documentation: ClassVar[str] = "the tests' own platform"

    def validate(self, draft: CampaignDraft) -> list[QaProblem]:
        problems = []
        if draft.payload_config.get("objective") not in OBJECTIVES:
            problems.append(QaProblem("payload_config.objective", "must be an OUTCOME_* objective"))
        if draft.budget < Decimal(1):
            problems.append(QaProblem("budget", "below the platform's minimum of 1.00"))
        return problems

    def build(self, draft: CampaignDraft) -> dict[str, Any]:
        return {"name": draft.campaign_name}


@pytest.fixture(autouse=True)
def translator(client: httpx.AsyncClient) -> Iterator[Translator]:
    # after the app has started (and registered the platforms' own translators)
    with registered(ExampleTranslator()) as example:
        yield example


async def _ticket(client: httpx.AsyncClient, **extra: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    data = await master_data(client)
    made = await campaign(client, data)
    body = {
        "campaign_id": made["id"],
        "channel_id": data["meta"]["id"],
        "payload_config": {"objective": "OUTCOME_SALES"},
    } | extra
    return data, await created(client, "/api/v1/tickets", body)


async def _move(
    client: httpx.AsyncClient, ticket: dict[str, Any], status: str, **extra: Any
) -> httpx.Response:
    return await client.put(f"/api/v1/tickets/{ticket['id']}", json={"status": status, **extra})


async def test_a_ticket_deploys_its_campaign_name_with_its_channel(
    client: httpx.AsyncClient,
) -> None:
    data, ticket = await _ticket(client)
    assert ticket["deployed_name"] == "DIS_US_META_2026_MoanaLaunch"
    assert ticket["status"] == "DRAFT" and ticket["allowed_next"] == ["QA_TESTING"]
    assert ticket["request_type"] == "CREATE_CAMPAIGN"
    made = (await client.get(f"/api/v1/campaigns/{ticket['campaign_id']}")).json()
    assert made["name"] == "DIS_US_MULTI_2026_MoanaLaunch"  # both names are kept


async def test_a_single_channel_campaign_takes_tickets_for_its_channel_only(
    client: httpx.AsyncClient,
) -> None:
    data = await master_data(client)
    made = await campaign(client, data, channel_id=data["meta"]["id"])
    wrong = await client.post(
        "/api/v1/tickets", json={"campaign_id": made["id"], "channel_id": data["tiktok"]["id"]}
    )
    assert wrong.status_code == 422
    assert "for channel 'META' only" in wrong.json()["detail"][0]["reason"]


async def test_unknown_campaign_or_channel_is_422(client: httpx.AsyncClient) -> None:
    data = await master_data(client)
    made = await campaign(client, data)
    missing = "00000000-0000-4000-8000-000000000000"
    for body, field in (
        ({"campaign_id": missing, "channel_id": data["meta"]["id"]}, "campaign_id"),
        ({"campaign_id": made["id"], "channel_id": missing}, "channel_id"),
    ):
        response = await client.post("/api/v1/tickets", json=body)
        assert (response.status_code, response.json()["detail"][0]["field"]) == (422, field)


async def test_qa_passes_to_ready_for_api(client: httpx.AsyncClient) -> None:
    _, ticket = await _ticket(client)
    response = await _move(client, ticket, "QA_TESTING", reason="ready for review")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "READY_FOR_API"
    assert response.json()["qa_failure_reason"] is None
    assert response.json()["allowed_next"] == ["DRAFT", "TRAFFICKED_SUCCESS", "FAILED"]


async def test_qa_fails_with_every_reason(client: httpx.AsyncClient) -> None:
    data = await master_data(client)
    made = await campaign(client, data, budget="0.50")
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    ticket = await created(
        client,
        "/api/v1/tickets",
        {
            "campaign_id": made["id"],
            "channel_id": data["meta"]["id"],
            "payload_config": {"objective": "CONVERSIONS"},
            "end_date": yesterday.isoformat(),
        },
    )
    response = await _move(client, ticket, "QA_TESTING")
    body = response.json()
    assert body["status"] == "QA_FAILED"
    reasons = body["qa_failure_reason"].splitlines()
    assert reasons == [
        f"end_date: {yesterday} has passed",
        "payload_config.objective: must be an OUTCOME_* objective",
        "budget: below the platform's minimum of 1.00",
    ]
    assert body["allowed_next"] == ["DRAFT", "QA_TESTING"]
    # fixed, then QA again: the old reasons go
    fixed = await client.put(
        f"/api/v1/tickets/{ticket['id']}",
        json={"payload_config": {"objective": "OUTCOME_AWARENESS"}, "end_date": None},
    )
    assert fixed.status_code == 200, fixed.text
    await client.put(f"/api/v1/campaigns/{made['id']}", json={"budget": 100})
    passed = (await _move(client, ticket, "QA_TESTING")).json()
    assert (passed["status"], passed["qa_failure_reason"]) == ("READY_FOR_API", None)


async def test_a_platform_without_translator_fails_qa_saying_so(client: httpx.AsyncClient) -> None:
    data = await master_data(client)
    made = await campaign(client, data)
    linkedin = await created(
        client, "/api/v1/channels", {"platform_name": "LINKEDIN", "api_identifier": "linkedin"}
    )
    ticket = await created(
        client, "/api/v1/tickets", {"campaign_id": made["id"], "channel_id": linkedin["id"]}
    )
    body = (await _move(client, ticket, "QA_TESTING")).json()
    assert body["status"] == "QA_FAILED"
    assert "no translator builds payloads for 'LINKEDIN'" in body["qa_failure_reason"]


async def test_qa_checks_the_taxonomy_names(client: httpx.AsyncClient, app: Any) -> None:
    from sqlalchemy import update

    from omnirelay.models import Ticket

    _, ticket = await _ticket(client)
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            update(Ticket).where(Ticket.id == ticket["id"]).values(deployed_name="dis us meta")
        )
    body = (await _move(client, ticket, "QA_TESTING")).json()
    assert body["status"] == "QA_FAILED"
    assert body["qa_failure_reason"].startswith(
        "deployed_name: taxonomy 2026.1: name does not follow"
    )


async def test_a_ticket_created_in_qa_testing_is_checked_at_once(client: httpx.AsyncClient) -> None:
    _, ticket = await _ticket(client, status="QA_TESTING")
    assert ticket["status"] == "READY_FOR_API"


@pytest.mark.parametrize(
    ("path", "status", "allowed"),
    [
        ([], "READY_FOR_API", "QA_TESTING"),
        ([], "TRAFFICKED_SUCCESS", "QA_TESTING"),
        (["QA_TESTING"], "QA_FAILED", "DRAFT, TRAFFICKED_SUCCESS, FAILED"),
        (["QA_TESTING"], "QA_TESTING", "DRAFT, TRAFFICKED_SUCCESS, FAILED"),
    ],
)
async def test_forbidden_transitions_are_409_naming_the_allowed_ones(
    client: httpx.AsyncClient, path: list[str], status: str, allowed: str
) -> None:
    _, ticket = await _ticket(client)
    for step in path:
        assert (await _move(client, ticket, step)).status_code == 200
    extra = {"external_platform_id": "1"} if status == "TRAFFICKED_SUCCESS" else {}
    response = await _move(client, ticket, status, **extra)
    assert response.status_code == 409, response.text
    assert f"it can move to {allowed}, not {status}" in response.json()["detail"]


async def test_trafficked_by_hand_and_final(client: httpx.AsyncClient) -> None:
    _, ticket = await _ticket(client, status="QA_TESTING")
    assert (await _move(client, ticket, "TRAFFICKED_SUCCESS")).status_code == 422
    done = await _move(client, ticket, "TRAFFICKED_SUCCESS", external_platform_id="120210000000001")
    assert done.json()["external_platform_id"] == "120210000000001"
    assert done.json()["allowed_next"] == []
    again = await _move(client, ticket, "DRAFT")
    assert again.status_code == 409 and "no other status" in again.json()["detail"]
    assert (await client.delete(f"/api/v1/tickets/{ticket['id']}")).status_code == 409


async def test_failed_keeps_its_reason_until_left(client: httpx.AsyncClient) -> None:
    _, ticket = await _ticket(client, status="QA_TESTING")
    wrong = await client.put(f"/api/v1/tickets/{ticket['id']}", json={"qa_failure_reason": "x"})
    assert wrong.status_code == 422
    failed = await _move(client, ticket, "FAILED", qa_failure_reason="API Error 400: bad")
    assert failed.json()["qa_failure_reason"] == "API Error 400: bad"
    back = await _move(client, ticket, "DRAFT")
    assert (back.json()["status"], back.json()["qa_failure_reason"]) == ("DRAFT", None)


async def test_content_changes_only_while_editable(client: httpx.AsyncClient) -> None:
    _, ticket = await _ticket(client, status="QA_TESTING")
    path = f"/api/v1/tickets/{ticket['id']}"
    refused = await client.put(path, json={"payload_config": {"objective": "OUTCOME_AWARENESS"}})
    assert refused.status_code == 409
    assert "move it to DRAFT first" in refused.json()["detail"]
    pulled = await client.put(
        path, json={"status": "DRAFT", "payload_config": {"objective": "OUTCOME_AWARENESS"}}
    )
    assert pulled.status_code == 200, pulled.text
    assert (pulled.json()["status"], pulled.json()["payload_config"]) == (
        "DRAFT",
        {"objective": "OUTCOME_AWARENESS"},
    )
    bad_dates = await client.put(path, json={"start_date": "2030-02-01", "end_date": "2030-01-01"})
    assert bad_dates.status_code == 422


async def test_history_keeps_who_when_from_to_and_why(client: httpx.AsyncClient) -> None:
    _, ticket = await _ticket(client, reason="new launch")
    await _move(client, ticket, "QA_TESTING", reason="please check")
    await _move(client, ticket, "DRAFT", reason="budget changes")
    page = (await client.get(f"/api/v1/tickets/{ticket['id']}/history")).json()
    steps = [
        (h["from_status"], h["to_status"], h["changed_by"], h["reason"]) for h in page["items"]
    ]
    assert steps == [
        (None, "DRAFT", "admin", "new launch"),
        ("DRAFT", "QA_TESTING", "admin", "please check"),
        ("QA_TESTING", "READY_FOR_API", "qa", "every check passed"),
        ("READY_FOR_API", "DRAFT", "admin", "budget changes"),
    ]
    times = [datetime.fromisoformat(h["changed_at"]) for h in page["items"]]
    assert times == sorted(times) and all(t.tzinfo is not None for t in times)
    assert (await client.get("/api/v1/tickets/nope/history")).status_code == 404


async def test_ticket_lists_filter(client: httpx.AsyncClient) -> None:
    data, ticket = await _ticket(client, status="QA_TESTING")
    other = await created(
        client,
        "/api/v1/tickets",
        {
            "campaign_id": ticket["campaign_id"],
            "channel_id": data["tiktok"]["id"],
            "request_type": "update_budget",
        },
    )

    async def ids(**params: Any) -> list[str]:
        return [
            t["id"] for t in (await client.get("/api/v1/tickets", params=params)).json()["items"]
        ]

    assert await ids(status="READY_FOR_API") == [ticket["id"]]
    assert await ids(request_type="update_budget") == [other["id"]]
    assert await ids(channel_id=data["tiktok"]["id"]) == [other["id"]]
    assert len(await ids(campaign_id=ticket["campaign_id"])) == 2


def test_a_translator_that_raises_is_a_qa_problem() -> None:
    from pathlib import Path

    from omnirelay.trafficking.taxonomy import Taxonomy, load_spec

    class Broken(ExampleTranslator):
        platform: ClassVar[str] = "BROKEN"

        def validate(self, draft: CampaignDraft) -> list[QaProblem]:
            raise KeyError("objective")

    draft = CampaignDraft("t", "c", "DIS_US_BROKEN_2026_X", Decimal(5), "USD", "CREATE_CAMPAIGN")
    with registered(Broken()):
        problems = qa.check_ticket(
            draft,
            platform="broken",
            campaign_name="DIS_US_MULTI_2026_X",
            taxonomy=Taxonomy(load_spec(Path("config/taxonomy.yaml"))),
            today=date(2026, 1, 1),
        )
    assert [p.field for p in problems] == ["payload_config"]
    assert qa.translator_for("BROKEN") is None


def test_the_platform_translators_are_loaded_when_provided(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    module = types.ModuleType("omnirelay.trafficking.translators")
    module.all_translators = lambda: [ExampleTranslator()]  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "omnirelay.trafficking.translators", module)
    assert qa.load_platform_translators() == 1
    monkeypatch.setattr(module, "all_translators", None)
    assert qa.load_platform_translators() == 0
