"""config/rules.yaml and config/templates: they load, and each of the seed's scenarios (and
the extensions shown) decides as the seed says."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import jinja2
import pytest

from omnirelay.messaging.rules import (
    InMemoryPriorEvents,
    MessagingEvent,
    Outcome,
    ReasonCode,
    RuleSet,
    SuppressionKey,
    evaluate,
    load_rules,
    template_names,
)
from tests.messaging.helpers import global_cap, make_event, ts

CONFIG = Path(__file__).resolve().parents[2] / "config"
NONE = InMemoryPriorEvents()

# Seed 003's example event (POST /events).
SEED_EVENT: dict[str, Any] = {
    "user_id": "user_12345",
    "event_type": "payment_failed",
    "event_timestamp": "2024-01-15T10:30:00Z",
    "properties": {
        "failure_reason": "INSUFFICIENT_FUNDS",
        "attempt_number": 1,
        "amount": 29.99,
        "currency": "USD",
    },
    "user_traits": {
        "email": "john.doe@example.com",
        "country": "US",
        "marketing_opt_in": True,
        "risk_segment": "low",
    },
}


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load_rules(CONFIG / "rules.yaml", template_names(CONFIG / "templates"))


def seed_event(**changes: Any) -> MessagingEvent:
    data = {**SEED_EVENT, **changes}
    return MessagingEvent.model_validate(data)


def test_the_shipped_rules_load(rules: RuleSet) -> None:
    assert len(rules.rules) >= 8
    assert rules.settings.marketing_cap is not None
    assert rules.settings.quiet_hours is not None
    assert rules.prior_event_types() == {"signup_completed", "subscription_cancelled"}


def test_every_template_is_used_and_parses_as_jinja2(rules: RuleSet) -> None:
    used = {rule.action.template_name for rule in rules.rules if rule.action.template_name}
    assert used == template_names(CONFIG / "templates")
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    for path in sorted((CONFIG / "templates").glob("*.j2")):
        template = environment.from_string(path.read_text())
        text = template.render(
            user_id="user_12345",
            event_type="payment_failed",
            event_timestamp="2024-01-15T10:30:00Z",
            properties={**SEED_EVENT["properties"], "plan": "premium", "steps_left": 2},
            user_traits=SEED_EVENT["user_traits"],
        )
        assert text.strip(), path.name


def test_the_seed_example_sends_the_insufficient_funds_email(rules: RuleSet) -> None:
    decision = evaluate(rules, seed_event(), NONE)
    assert decision.rule == "insufficient_funds_email"
    assert (decision.action_type, decision.template_name, decision.channel) == (
        "send",
        "INSUFFICIENT_FUNDS_EMAIL",
        "email",
    )
    assert (decision.outcome, decision.reason_code) == (Outcome.SEND, ReasonCode.SENT)
    assert decision.suppression_key == SuppressionKey(
        "user_12345", "insufficient_funds_email", "2024-01-15", ReasonCode.SUPPRESSED_CALENDAR_DAY
    )
    assert global_cap(decision) is not None and global_cap(decision).count == 3


def test_insufficient_funds_is_once_per_utc_calendar_day(rules: RuleSet) -> None:
    late = evaluate(rules, seed_event(event_timestamp="2024-01-15T23:59:59Z"), NONE)
    next_day = evaluate(rules, seed_event(event_timestamp="2024-01-16T00:00:00Z"), NONE)
    assert late.suppression_key is not None and next_day.suppression_key is not None
    assert late.suppression_key.scope == "2024-01-15"
    assert next_day.suppression_key.scope == "2024-01-16"
    # A scheduled send (the late one falls in the quiet hours) keeps its day's key.
    assert late.outcome == Outcome.SCHEDULED and late.send_at == ts("2024-01-16T08:00:00Z")


def test_another_failure_reason_gets_no_email(rules: RuleSet) -> None:
    decision = evaluate(
        rules,
        seed_event(properties={**SEED_EVENT["properties"], "failure_reason": "CARD_EXPIRED"}),
        NONE,
    )
    assert decision.reason_code == ReasonCode.NO_RULE_MATCHED
    assert (
        'properties.failure_reason equals "INSUFFICIENT_FUNDS" (saw "CARD_EXPIRED")'
        in decision.reason
    )
    assert "'payment_failed_survey_email' disabled" in decision.reason


def test_an_opted_out_user_gets_no_insufficient_funds_email(rules: RuleSet) -> None:
    traits = {**SEED_EVENT["user_traits"], "marketing_opt_in": False}
    decision = evaluate(rules, seed_event(user_traits=traits), NONE)
    assert (decision.rule, decision.outcome, decision.reason_code) == (
        "insufficient_funds_email",
        Outcome.SUPPRESS,
        ReasonCode.OPTED_OUT,
    )


@pytest.mark.parametrize(
    ("traits", "properties"),
    [
        ({"risk_segment": "high"}, {}),
        ({"risk_segment": "HIGH"}, {}),
        ({"risk_segment": "low"}, {"amount": 1500}),
    ],
)
def test_a_high_risk_payment_failure_alerts_the_cx_team(
    rules: RuleSet, traits: dict[str, Any], properties: dict[str, Any]
) -> None:
    # Opted out and in the middle of the night: an alert goes anyway, at once.
    event = seed_event(
        event_timestamp="2024-01-15T03:00:00Z",
        user_traits={**SEED_EVENT["user_traits"], "marketing_opt_in": False, **traits},
        properties={**SEED_EVENT["properties"], **properties},
    )
    decision = evaluate(rules, event, NONE)
    assert decision.rule == "high_risk_payment_failure_alert"
    assert (decision.channel, decision.template_name, decision.category) == (
        "alert",
        "HIGH_RISK_PAYMENT_ALERT",
        "operational",
    )
    assert (decision.outcome, decision.reason_code) == (Outcome.SEND, ReasonCode.SENT)
    assert decision.suppression_key is None and decision.rate_limits == ()


def test_welcome_email_once_ever_after_signup(rules: RuleSet) -> None:
    event = make_event(
        "signup_completed",
        user_id="new_user",
        at="2024-01-15T12:00:00Z",
        traits={"email": "new@example.com", "marketing_opt_in": True},
    )
    decision = evaluate(rules, event, NONE)
    assert (decision.rule, decision.template_name, decision.outcome) == (
        "welcome_email",
        "WELCOME_EMAIL",
        Outcome.SEND,
    )
    assert decision.suppression_key == SuppressionKey(
        "new_user", "welcome_email", "once_ever", ReasonCode.SUPPRESSED_ONCE_EVER
    )


@pytest.mark.parametrize(
    ("signup_before", "reminded"),
    [
        (timedelta(hours=1), True),
        (timedelta(hours=24), True),
        (timedelta(hours=24, microseconds=1), False),
        (None, False),
    ],
)
def test_the_onboarding_reminder_only_within_24_hours_after_signup(
    rules: RuleSet, signup_before: timedelta | None, reminded: bool
) -> None:
    at = "2024-01-15T12:00:00Z"
    history = InMemoryPriorEvents()
    if signup_before is not None:
        history.add("u1", "signup_completed", ts(at) - signup_before)
    event = make_event("onboarding_abandoned", at=at, traits={"marketing_opt_in": True})
    decision = evaluate(rules, event, history)
    if reminded:
        assert (decision.rule, decision.channel, decision.outcome) == (
            "onboarding_reminder_push",
            "push",
            Outcome.SEND,
        )
    else:
        assert decision.reason_code == ReasonCode.NO_RULE_MATCHED
        assert "prior signup_completed within 24h" in decision.reason


def test_test_accounts_receive_nothing(rules: RuleSet) -> None:
    traits = {**SEED_EVENT["user_traits"], "email": "qa@test.example.com", "risk_segment": "high"}
    decision = evaluate(rules, seed_event(user_traits=traits), NONE)
    assert (decision.rule, decision.outcome, decision.reason_code) == (
        "test_accounts_receive_nothing",
        Outcome.NONE,
        ReasonCode.RULE_ACTION_NONE,
    )


def test_the_payment_retry_text_is_limited_to_two_a_day(rules: RuleSet) -> None:
    properties = {
        **SEED_EVENT["properties"],
        "failure_reason": "CARD_DECLINED",
        "attempt_number": 2,
    }
    traits = {**SEED_EVENT["user_traits"], "phone": "+15555550100"}
    decision = evaluate(rules, seed_event(properties=properties, user_traits=traits), NONE)
    assert (decision.rule, decision.channel) == ("payment_retry_sms", "sms")
    rule_limit, cap = decision.rate_limits
    assert (rule_limit.rule_name, rule_limit.count, rule_limit.window) == (
        "payment_retry_sms",
        2,
        timedelta(hours=24),
    )
    assert rule_limit.reason_code == ReasonCode.SUPPRESSED_RATE_LIMIT
    assert (cap.rule_name, cap.reason_code) == (None, ReasonCode.FREQUENCY_CAPPED)
    fraud = {**properties, "failure_reason": "FRAUD_SUSPECTED"}
    assert evaluate(rules, seed_event(properties=fraud, user_traits=traits), NONE).rule is None
    no_phone = evaluate(rules, seed_event(properties=properties), NONE)
    assert "user_traits.phone exists (missing)" in no_phone.reason


def test_the_premium_winback_and_its_own_quiet_hours(rules: RuleSet) -> None:
    traits = {"marketing_opt_in": True, "country": "NO", "timezone": "Europe/Oslo"}
    event = make_event(
        "subscription_cancelled",
        at="2024-06-03T17:30:00Z",
        properties={"plan": "premium_yearly"},
        traits=traits,
    )
    decision = evaluate(rules, event, NONE)  # 19:30 in Oslo: before the rule's 20:00
    assert (decision.rule, decision.outcome) == ("premium_winback_email", Outcome.SEND)
    evening = event.model_copy(update={"event_timestamp": ts("2024-06-03T18:30:00Z")})
    held = evaluate(rules, evening, NONE)  # 20:30 in Oslo
    assert held.outcome == Outcome.SCHEDULED and held.send_at == ts("2024-06-04T07:00:00Z")
    history = InMemoryPriorEvents()
    history.add("u1", "subscription_cancelled", ts("2024-04-01T00:00:00Z"))
    assert evaluate(rules, event, history).rule is None  # cancelled 63 days before
    basic = event.model_copy(update={"properties": {"plan": "basic"}})
    assert evaluate(rules, basic, NONE).rule is None
