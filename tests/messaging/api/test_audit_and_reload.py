"""GET /audit/{user_id}: newest first, paged, filtered. Rules reloads: the admin endpoint,
SIGHUP's reload, a broken file keeping the last good rules, versions in decisions."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from omnirelay.app import create_app
from omnirelay.config import Settings
from omnirelay.messaging.holder import reload_every_holder
from tests.messaging.conftest import Clock, SendRecorder, event
from tests.messaging.helpers import ts

CONFIG = Path(__file__).resolve().parents[3] / "config"
OPTED_IN = {"email": "a@example.com", "marketing_opt_in": True}


async def test_the_audit_is_newest_first_paged_and_filtered(
    client: httpx.AsyncClient, storefront: int, sent: SendRecorder, clock: Clock
) -> None:
    posted = []
    for n, (event_type, properties) in enumerate(
        [
            ("signup_completed", {}),
            ("payment_failed", {"failure_reason": "INSUFFICIENT_FUNDS"}),
            ("payment_failed", {"failure_reason": "INSUFFICIENT_FUNDS", "attempt_number": 2}),
            ("page_viewed", {}),
        ]
    ):
        clock.now = ts(f"2024-01-15T1{n}:00:00Z")
        body = event(event_type, at=f"2024-01-15T1{n}:00:00Z", properties=properties)
        response = await client.post("/events", json=body | {"user_traits": OPTED_IN})
        posted.append(response.json())
    await client.post("/events", json=event(user_id="someone_else"))

    audit = (await client.get("/audit/user_12345")).json()
    assert (audit["user_id"], audit["total"], audit["limit"], audit["offset"]) == (
        "user_12345",
        4,
        50,
        0,
    )
    assert [d["event_id"] for d in audit["decisions"]] == [p["event_id"] for p in posted][::-1]
    newest = audit["decisions"][0]
    assert set(newest) >= {
        "event_id",
        "event_type",
        "event_timestamp",
        "matched_rule",
        "action_type",
        "template_name",
        "outcome",
        "reason",
        "decision_timestamp",
        "reason_code",
    }
    assert newest["decision_timestamp"] == "2024-01-15T13:00:00Z"

    async def ids(**params: Any) -> list[int]:
        response = await client.get("/audit/user_12345", params=params)
        assert response.status_code == 200, response.text
        return [d["event_id"] for d in response.json()["decisions"]]

    first, second, third, fourth = (p["event_id"] for p in posted)
    assert await ids(limit=2) == [fourth, third]
    assert await ids(limit=2, offset=2) == [second, first]
    assert await ids(event_type="payment_failed") == [third, second]
    assert await ids(rule="insufficient_funds_email") == [third, second]
    assert await ids(outcome="suppress") == [third]
    assert await ids(outcome="none") == [fourth]
    assert await ids(reason_code="sent") == [second, first]
    assert await ids(since="2024-01-15T11:00:00Z", until="2024-01-15T13:00:00Z") == [
        third,
        second,
    ]
    assert await ids(storefront_id="nowhere") == []
    assert (await client.get("/audit/nobody")).json()["decisions"] == []
    bad = await client.get("/audit/user_12345", params={"outcome": "maybe", "limit": 0})
    assert bad.status_code == 422


def read(path: Path) -> str:
    return path.read_text()


def write(path: Path, text: str) -> None:
    path.write_text(text)


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    rules = tmp_path / "rules" / "rules.yaml"
    shutil.copytree(CONFIG, rules.parent)
    return rules


@pytest.fixture
async def app_with_copy(settings: Settings, rules_copy: Path) -> Any:
    application = create_app(
        settings.model_copy(update={"rules_file": rules_copy}), run_worker=False
    )
    async with application.router.lifespan_context(application):
        application.state.clock = Clock(ts("2024-06-01T12:00:00Z"))
        yield application


async def test_a_reload_applies_new_rules_and_a_broken_file_keeps_the_last_good_ones(
    app_with_copy: Any, rules_copy: Path, sent: SendRecorder
) -> None:
    transport = httpx.ASGITransport(app=app_with_copy)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://omnirelay", auth=("admin", "test-password")
    ) as client:
        await client.post("/admin/v1/storefronts", json={"storefront_id": "shop", "name": "Shop"})
        before = (await client.get("/admin/v1/messaging/rules")).json()
        first = await client.post("/events", json=event("signup_completed", traits=OPTED_IN))
        assert first.json()["matched_rule"] == "welcome_email"

        original = read(rules_copy)
        write(
            rules_copy,
            original.replace('operator: "ends_with"', 'operator: "finishes_with"').replace(
                'template_name: "WELCOME_EMAIL"', 'template_name: "NO_SUCH_TEMPLATE"'
            ),
        )
        broken = await client.post("/admin/v1/messaging/rules/reload")
        assert broken.status_code == 422
        problems = broken.json()["detail"]
        assert {
            "rule": "rule #1 'test_accounts_receive_nothing'",
            "field": "conditions.all[0].operator",
        } in [{"rule": p["rule"], "field": p["field"]} for p in problems]
        assert any(
            p["field"] == "action.template_name" and "NO_SUCH_TEMPLATE" in p["problem"]
            for p in problems
        )
        assert (await client.get("/admin/v1/messaging/rules")).json() == before
        still = await client.post(
            "/events", json=event("signup_completed", user_id="u2", traits=OPTED_IN)
        )
        assert still.json()["matched_rule"] == "welcome_email"

        write(rules_copy, original.replace('"welcome_email"', '"welcome_email_v2"'))
        reloaded = await client.post("/admin/v1/messaging/rules/reload")
        assert reloaded.status_code == 200, reloaded.text
        loaded = reloaded.json()
        assert loaded["version"] != before["version"]
        assert (loaded["rules"], loaded["enabled"]) == (before["rules"], before["enabled"])
        after = await client.post(
            "/events", json=event("signup_completed", user_id="u3", traits=OPTED_IN)
        )
        assert after.json()["matched_rule"] == "welcome_email_v2"

        versions = {}
        for user in ("user_12345", "u2", "u3"):
            [decision] = (await client.get(f"/audit/{user}")).json()["decisions"]
            versions[user] = decision["rules_version"]
        assert versions == {
            "user_12345": before["version"],
            "u2": before["version"],
            "u3": loaded["version"],
        }

        # what SIGHUP runs: every holder of the process reloads; a broken file is logged
        write(rules_copy, original)
        reload_every_holder()
        assert (await client.get("/admin/v1/messaging/rules")).json() == before
        write(rules_copy, "rules: [")
        reload_every_holder()
        assert (await client.get("/admin/v1/messaging/rules")).json() == before
