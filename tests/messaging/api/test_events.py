"""POST /events with the shipped rules: each seed scenario, suppression by the database,
the global cap, quiet hours, the traits profile, idempotent re-posts, unknown types."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from omnirelay.models import (
    BEHAVIOURAL_SOURCE,
    EventProperties,
    EventTraits,
    MarketingEvent,
    MessageDecision,
    MessageSuppression,
    UserTraits,
)
from tests.messaging.conftest import Clock, SendRecorder, event
from tests.messaging.helpers import ts

OPTED_IN = {"email": "john.doe@example.com", "country": "US", "marketing_opt_in": True}
SEED_PROPERTIES = {
    "failure_reason": "INSUFFICIENT_FUNDS",
    "attempt_number": 1,
    "amount": 29.99,
    "currency": "USD",
}
DECISION_FIELDS = {
    "event_id",
    "user_id",
    "event_type",
    "matched_rule",
    "action_type",
    "template_name",
    "channel",
    "outcome",
    "reason",
    "reason_code",
}


async def post(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/events", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def test_the_seed_example_is_stored_decided_and_its_send_enqueued(
    client: httpx.AsyncClient,
    storefront: int,
    sent: SendRecorder,
    clock: Clock,
    sessionmaker: Any,
) -> None:
    body = event(properties=SEED_PROPERTIES, traits=OPTED_IN | {"risk_segment": "low"})
    answer = await post(client, body)

    assert set(answer) == DECISION_FIELDS
    assert answer["user_id"] == "user_12345"
    assert (answer["matched_rule"], answer["action_type"]) == ("insufficient_funds_email", "send")
    assert (answer["template_name"], answer["channel"]) == ("INSUFFICIENT_FUNDS_EMAIL", "email")
    assert (answer["outcome"], answer["reason_code"]) == ("allow", "sent")
    assert "insufficient_funds_email" in answer["reason"]
    assert "suppression check passed" in answer["reason"]

    [send] = sent.sends
    assert (send.event_id, send.storefront_id, send.user_id) == (
        answer["event_id"],
        storefront,
        "user_12345",
    )
    assert (send.rule_name, send.template_name, send.channel) == (
        "insufficient_funds_email",
        "INSUFFICIENT_FUNDS_EMAIL",
        "email",
    )
    assert send.not_before is None
    assert send.context["properties"]["amount"] == 29.99
    assert send.context["user_traits"]["email"] == "john.doe@example.com"
    async with sessionmaker() as session:
        stored = await session.get(MarketingEvent, answer["event_id"])
        assert stored is not None
        assert stored.source_system == BEHAVIOURAL_SOURCE
        assert stored.event_time == ts("2024-01-15T10:30:00Z")
        properties = await session.get(EventProperties, answer["event_id"])
        assert properties is not None
        assert (properties.failure_reason, properties.attempt_number) == ("INSUFFICIENT_FUNDS", 1)
        assert (properties.amount, properties.currency) == (29.99, "USD")
        traits = await session.get(EventTraits, answer["event_id"])
        assert traits is not None
        assert (traits.email, traits.country, traits.marketing_opt_in) == (
            "john.doe@example.com",
            "US",
            True,
        )
        decision = (await session.execute(select(MessageDecision))).scalar_one()
        assert send.decision_id == decision.id
        assert decision.rules_version and decision.explanation is not None
        checks = decision.explanation["checks"]
        assert checks[-1]["rule"] == "insufficient_funds_email"
        assert checks[-1]["status"] == "matched"
        assert "reason" not in decision.explanation  # the reason column holds it


async def test_each_event_keeps_its_own_known_traits_and_properties_as_columns(
    client: httpx.AsyncClient, storefront: int, sent: SendRecorder, clock: Clock, sessionmaker: Any
) -> None:
    """Seed 002's 1:1 rows: the traits an event carried, not the profile's later ones;
    values of the wrong kind or too long are NULL (the raw payload keeps them); an event
    without known traits or properties has no row; a re-post writes none."""
    first = await post(client, event(traits={"country": "US", "marketing_opt_in": False}))
    odd = {"email": "x" * 400, "marketing_opt_in": "yes", "timezone": "Europe/Paris"}
    second = await post(
        client, event(at="2024-01-16T10:30:00Z", traits=odd, properties={"attempt_number": 2**40})
    )
    bare = await post(client, event(at="2024-01-17T10:30:00Z", properties={"other": 1}))
    await post(client, event(traits={"country": "US", "marketing_opt_in": False}))  # again
    async with sessionmaker() as session:
        rows = {r.event_id: r for r in (await session.execute(select(EventTraits))).scalars()}
        props = (await session.execute(select(EventProperties))).scalars().all()
    assert set(rows) == {first["event_id"], second["event_id"]}
    kept = rows[first["event_id"]]
    assert (kept.country, kept.marketing_opt_in, kept.email) == ("US", False, None)
    odd_row = rows[second["event_id"]]
    assert (odd_row.email, odd_row.marketing_opt_in, odd_row.timezone) == (
        None,
        None,
        "Europe/Paris",
    )
    assert bare["event_id"] not in rows
    assert props == []  # 2**40 does not fit attempt_number; "other" is not a known property


async def test_once_per_calendar_day_is_the_events_own_utc_date(
    client: httpx.AsyncClient, storefront: int, sent: SendRecorder, clock: Clock
) -> None:
    def failed(at: str) -> dict[str, Any]:
        return event(at=at, properties=SEED_PROPERTIES, traits=OPTED_IN)

    first = await post(client, failed("2024-01-15T00:00:00Z"))
    last_moment = await post(client, failed("2024-01-15T23:59:59.999999Z"))
    next_day = await post(client, failed("2024-01-16T00:00:00Z"))
    # 01:30 in Berlin is still the 15th in UTC
    late = await post(client, failed("2024-01-16T01:30:00+02:00"))

    assert (first["outcome"], first["reason_code"]) == ("allow", "sent")
    assert (last_moment["outcome"], last_moment["reason_code"]) == (
        "suppress",
        "suppressed_calendar_day",
    )
    assert f"event #{first['event_id']}" in last_moment["reason"]
    assert (next_day["outcome"], late["outcome"]) == ("allow", "suppress")
    assert len(sent.sends) == 2


async def test_the_welcome_email_is_sent_once_ever(
    client: httpx.AsyncClient, storefront: int, sent: SendRecorder, clock: Clock
) -> None:
    first = await post(client, event("signup_completed", traits=OPTED_IN))
    again = await post(
        client, event("signup_completed", at="2024-05-01T10:00:00Z", traits=OPTED_IN)
    )
    assert (first["matched_rule"], first["outcome"]) == ("welcome_email", "allow")
    assert (again["outcome"], again["reason_code"]) == ("suppress", "suppressed_once_ever")
    assert f"event #{first['event_id']}" in again["reason"]
    assert [s.template_name for s in sent.sends] == ["WELCOME_EMAIL"]


async def test_a_high_risk_failure_alerts_cx_without_opt_in_or_cap(
    client: httpx.AsyncClient, storefront: int, sent: SendRecorder, clock: Clock
) -> None:
    traits = {"email": "risky@example.com", "marketing_opt_in": False, "risk_segment": "high"}
    answers = [
        await post(client, event(at=f"2024-01-15T10:3{n}:00Z", traits=traits)) for n in range(5)
    ]
    assert {(a["matched_rule"], a["channel"], a["outcome"]) for a in answers} == {
        ("high_risk_payment_failure_alert", "alert", "allow")
    }
    assert len(sent.sends) == 5


async def test_the_onboarding_reminder_only_within_24_hours_after_signup(
    client: httpx.AsyncClient, storefront: int, sent: SendRecorder, clock: Clock
) -> None:
    for user in ("on_time", "too_late"):
        await post(
            client, event("signup_completed", user_id=user, at="2024-01-14T10:00:00Z", traits={})
        )
    on_time = await post(
        client, event("onboarding_abandoned", user_id="on_time", at="2024-01-15T10:00:00Z")
    )
    too_late = await post(
        client, event("onboarding_abandoned", user_id="too_late", at="2024-01-15T10:00:01Z")
    )
    # the signups had no opt-in; the profile has none either
    assert (on_time["matched_rule"], on_time["reason_code"]) == (
        "onboarding_reminder_push",
        "opted_out",
    )
    assert (too_late["matched_rule"], too_late["reason_code"]) == (None, "no_rule_matched")
    assert "signup_completed" in too_late["reason"]
    assert sent.sends == []


async def test_the_profile_fills_in_the_traits_an_event_omits(
    client: httpx.AsyncClient, storefront: int, sent: SendRecorder, clock: Clock, sessionmaker: Any
) -> None:
    await post(
        client,
        event(
            "signup_completed",
            at="2024-01-14T10:00:00Z",
            traits=OPTED_IN | {"timezone": "UTC", "plan_tier": "gold"},
        ),
    )
    reminder = await post(client, event("onboarding_abandoned", at="2024-01-14T12:00:00Z"))
    assert (reminder["matched_rule"], reminder["outcome"]) == ("onboarding_reminder_push", "allow")
    # an older event's traits do not overwrite newer ones
    await post(client, event("page_viewed", at="2024-01-01T00:00:00Z", traits={"country": "DE"}))
    async with sessionmaker() as session:
        profile = (await session.execute(select(UserTraits))).scalar_one()
    assert (profile.email, profile.country, profile.marketing_opt_in) == (
        "john.doe@example.com",
        "US",
        True,
    )
    assert profile.other == {"plan_tier": "gold"}
    assert profile.traits_at == ts("2024-01-14T10:00:00Z")


async def test_newer_traits_replace_the_profiles_and_older_ones_only_fill_gaps(
    client: httpx.AsyncClient, storefront: int, sent: SendRecorder, clock: Clock, sessionmaker: Any
) -> None:
    async def profile() -> UserTraits:
        async with sessionmaker() as session:
            return (await session.execute(select(UserTraits))).scalar_one()

    async def opt_in() -> tuple[Any, Any]:
        row = await profile()
        return row.marketing_opt_in, row.other

    await post(client, event("page_viewed", at="2024-01-10T00:00:00Z", traits={"country": "US"}))
    await post(
        client,
        event("page_viewed", at="2024-01-12T00:00:00Z", traits={"country": "NO", "phone": "+47"}),
    )
    await post(
        client,
        event("page_viewed", at="2024-01-11T00:00:00Z", traits={"phone": "+1", "email": "a@b.c"}),
    )
    row = await profile()
    assert (row.country, row.phone, row.email) == ("NO", "+47", "a@b.c")
    assert row.traits_at == ts("2024-01-12T00:00:00Z")
    # a value that does not fit its column is kept in ``other``; a newer fitting value
    # replaces it there too, an older one gives way to it
    await post(
        client,
        event("page_viewed", at="2024-01-13T00:00:00Z", traits={"marketing_opt_in": "yes"}),
    )
    assert await opt_in() == (None, {"marketing_opt_in": "yes"})
    await post(
        client,
        event("page_viewed", at="2024-01-09T00:00:00Z", traits={"marketing_opt_in": False}),
    )
    assert await opt_in() == (None, {"marketing_opt_in": "yes"})
    await post(
        client,
        event("page_viewed", at="2024-01-14T00:00:00Z", traits={"marketing_opt_in": True}),
    )
    row = await profile()
    assert (row.marketing_opt_in, row.other, row.traits_at) == (
        True,
        None,
        ts("2024-01-14T00:00:00Z"),
    )


async def test_opted_out_users_get_no_marketing(
    client: httpx.AsyncClient, storefront: int, sent: SendRecorder, clock: Clock
) -> None:
    answer = await post(
        client,
        event(properties=SEED_PROPERTIES, traits=OPTED_IN | {"marketing_opt_in": False}),
    )
    assert (answer["matched_rule"], answer["outcome"], answer["reason_code"]) == (
        "insufficient_funds_email",
        "suppress",
        "opted_out",
    )
    assert "marketing_opt_in is false" in answer["reason"]
    assert sent.sends == []


async def test_the_global_marketing_cap_stops_the_fourth_send_in_24_hours(
    client: httpx.AsyncClient, storefront: int, sent: SendRecorder, clock: Clock, sessionmaker: Any
) -> None:
    traits = OPTED_IN | {"phone": "+15550100"}
    welcome = await post(
        client, event("signup_completed", at="2024-01-15T08:00:00Z", traits=traits)
    )
    push = await post(client, event("onboarding_abandoned", at="2024-01-15T09:00:00Z"))
    email = await post(client, event(at="2024-01-15T10:00:00Z", properties=SEED_PROPERTIES))
    winback = event(
        "subscription_cancelled", at="2024-01-15T11:00:00Z", properties={"plan": "premium"}
    )
    capped = await post(client, winback)
    assert [a["outcome"] for a in (welcome, push, email)] == ["allow"] * 3
    assert (capped["matched_rule"], capped["outcome"], capped["reason_code"]) == (
        "premium_winback_email",
        "suppress",
        "frequency_capped",
    )
    for earlier in (welcome, push, email):
        assert f"event #{earlier['event_id']}" in capped["reason"]
    assert len(sent.sends) == 3
    async with sessionmaker() as session:  # the capped send's day claim was given back
        claims = (await session.execute(select(MessageSuppression.rule_name))).scalars()
        assert set(claims) == {
            "welcome_email",
            "onboarding_reminder_push",
            "insufficient_funds_email",
        }
    # 24 h after the first send its slot is free again
    later = await post(client, event(at="2024-01-16T08:00:01Z", properties=SEED_PROPERTIES))
    assert (later["outcome"], later["reason_code"]) == ("allow", "sent")


async def test_quiet_hours_schedule_the_send_across_a_dst_change(
    client: httpx.AsyncClient, storefront: int, sent: SendRecorder, clock: Clock, sessionmaker: Any
) -> None:
    # 23:30 in Berlin on the night clocks go forward: quiet until 08:00 CEST, 06:00 UTC
    clock.now = ts("2024-03-30T22:30:00Z")
    traits = OPTED_IN | {"timezone": "Europe/Berlin"}
    answer = await post(client, event("signup_completed", at="2024-03-30T22:29:00Z", traits=traits))
    assert (answer["outcome"], answer["reason_code"]) == ("allow", "scheduled_quiet_hours")
    assert "2024-03-31T06:00:00+00:00" in answer["reason"]
    [send] = sent.sends
    assert send.not_before == ts("2024-03-31T06:00:00Z")
    audit = (await client.get("/audit/user_12345")).json()
    assert audit["decisions"][0]["scheduled_for"] == "2024-03-31T06:00:00Z"


async def test_a_repost_answers_the_first_decision_and_sends_nothing_more(
    client: httpx.AsyncClient, storefront: int, sent: SendRecorder, clock: Clock, sessionmaker: Any
) -> None:
    with_id = event("signup_completed", traits=OPTED_IN, client_event_id="evt-1")
    first = await post(client, with_id)
    # same client id: the same event, whatever else it says now
    again = await post(client, with_id | {"properties": {"changed": True}})
    without_id = event(properties=SEED_PROPERTIES, traits=OPTED_IN)
    second = await post(client, without_id)
    same_content = await post(client, without_id | {"user_traits": {}})
    other_content = await post(
        client, without_id | {"properties": SEED_PROPERTIES | {"attempt_number": 2}}
    )
    assert again == first
    assert same_content == second
    assert other_content["event_id"] != second["event_id"]
    assert other_content["reason_code"] == "suppressed_calendar_day"
    assert len(sent.sends) == 2
    async with sessionmaker() as session:
        events = (await session.execute(select(MarketingEvent.id))).scalars().all()
        decisions = (await session.execute(select(MessageDecision.id))).scalars().all()
    assert len(events) == len(decisions) == 3


async def test_an_unknown_event_type_is_stored_and_audited_as_no_rule_matched(
    client: httpx.AsyncClient, storefront: int, sent: SendRecorder, clock: Clock
) -> None:
    answer = await post(client, event("widget_spun", properties={"speed": [1, 2]}))
    assert (answer["matched_rule"], answer["outcome"], answer["reason_code"]) == (
        None,
        "none",
        "no_rule_matched",
    )
    assert answer["reason"] == "no rule is triggered by widget_spun"
    audit = (await client.get("/audit/user_12345")).json()
    assert [d["event_type"] for d in audit["decisions"]] == ["widget_spun"]


async def test_a_rules_own_max_is_counted_by_the_database_across_posts(
    client: httpx.AsyncClient, storefront: int, sent: SendRecorder, clock: Clock
) -> None:
    """payment_retry_sms: at most 2 in a rolling 24 h per user; the third is
    suppressed_rate_limit naming the sends that hold the slots; after the window, sent."""
    traits = OPTED_IN | {"phone": "+15555550100"}
    retry = {"failure_reason": "CARD_DECLINED", "attempt_number": 2}
    times = ["2024-01-15T08:00:00Z", "2024-01-15T12:00:00Z", "2024-01-16T07:59:59Z"]
    answers = [await post(client, event(at=t, properties=retry, traits=traits)) for t in times]
    after = await post(client, event(at="2024-01-16T08:00:01Z", properties=retry, traits=traits))
    assert [a["matched_rule"] for a in answers] == ["payment_retry_sms"] * 3
    assert [a["reason_code"] for a in answers] == ["sent", "sent", "suppressed_rate_limit"]
    assert str(answers[0]["event_id"]) in answers[2]["reason"]
    assert after["reason_code"] == "sent"  # the first send has left the window
    assert len(sent.sends) == 3


async def test_a_rule_with_action_none_stops_evaluation_and_is_audited(
    client: httpx.AsyncClient, storefront: int, sent: SendRecorder, clock: Clock
) -> None:
    tester = {"email": "qa@test.example.com", "marketing_opt_in": True}
    answer = await post(client, event("signup_completed", traits=tester))
    assert (answer["matched_rule"], answer["action_type"]) == (
        "test_accounts_receive_nothing",
        "none",
    )
    assert (answer["outcome"], answer["reason_code"]) == ("none", "rule_action_none")
    assert sent.sends == []
    audit = await client.get("/audit/user_12345", params={"reason_code": "rule_action_none"})
    assert audit.json()["total"] == 1


async def test_any_event_type_name_is_stored_and_audited_never_refused(
    client: httpx.AsyncClient, storefront: int, sent: SendRecorder, clock: Clock
) -> None:
    names = ["Order Completed", "Bestellung abgeschlossen ü", "checkout/step#2"]
    for name in names:
        answer = await post(client, event(name))
        assert (answer["event_type"], answer["reason_code"]) == (name, "no_rule_matched")
    audit = (await client.get("/audit/user_12345")).json()
    assert sorted(d["event_type"] for d in audit["decisions"]) == sorted(names)
    only = await client.get("/audit/user_12345", params={"event_type": "Order Completed"})
    assert only.json()["total"] == 1
    refused = await client.post("/events", json=event("line\nbreak"))
    assert refused.status_code == 422 and refused.json()["detail"][0]["field"] == "event_type"


async def test_a_client_event_id_of_another_user_is_a_conflict_not_their_decision(
    client: httpx.AsyncClient, storefront: int, sent: SendRecorder, clock: Clock
) -> None:
    first = await post(client, event("signup_completed", traits=OPTED_IN, client_event_id="e-7"))
    other = event("signup_completed", traits=OPTED_IN, client_event_id="e-7")
    other["user_id"] = "someone_else"
    refused = await client.post("/events", json=other)
    assert refused.status_code == 409
    assert "client_event_id 'e-7'" in refused.json()["detail"]
    assert "user_12345" not in refused.text
    assert len(sent.sends) == 1
    assert (await post(client, event("signup_completed", client_event_id="e-7"))) == first


async def test_the_seed_path_with_its_slash_answers_the_decision_without_a_redirect(
    client: httpx.AsyncClient, storefront: int, sent: SendRecorder, clock: Clock
) -> None:
    response = await client.post("/events/", json=event("signup_completed", traits=OPTED_IN))
    assert response.status_code == 200, response.text
    assert response.json()["reason_code"] == "sent"
    assert len(sent.sends) == 1


async def test_the_default_storefront_takes_events_that_name_none(
    app: Any, client: httpx.AsyncClient, storefront: int, sent: SendRecorder, clock: Clock
) -> None:
    body = event("signup_completed", traits=OPTED_IN)
    del body["storefront_id"]
    refused = await client.post("/events", json=body)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["field"] == "storefront_id"
    app.state.settings.messaging_default_storefront = "shop"
    answer = await post(client, body)
    assert sent.sends[0].storefront_id == storefront
    assert answer["outcome"] == "allow"
