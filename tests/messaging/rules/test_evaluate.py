"""The evaluator: first match wins, what stops a send, quiet hours, and what the caller
gets to claim."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from omnirelay.messaging.rules import (
    InMemoryPriorEvents,
    Outcome,
    PrefetchedPriorEvents,
    RateLimit,
    ReasonCode,
    SuppressionKey,
    evaluate,
)
from omnirelay.messaging.rules.conditions import _TESTS
from omnirelay.messaging.rules.schema import OPERATORS
from tests.messaging.helpers import global_cap, make_event, ruleset, ts, verdict

NONE = InMemoryPriorEvents()
OPTED_IN = {"marketing_opt_in": True}

THREE_RULES = """\
- name: first
  trigger: {event_type: payment_failed}
  conditions: [{field: properties.failure_reason, operator: equals, value: FRAUD}]
  action: {type: send, template_name: ALERT, delivery_method: alert}
- name: off
  enabled: false
  trigger: {event_type: payment_failed}
  action: {type: send, template_name: B, delivery_method: email}
- name: second
  trigger: {event_type: payment_failed}
  conditions: [{field: properties.amount, operator: gt, value: 10}]
  action: {type: send, template_name: A, delivery_method: email}
- name: third
  trigger: {event_type: payment_failed}
  action: {type: send, template_name: C, delivery_method: sms}
"""


def test_the_first_enabled_matching_rule_wins() -> None:
    rules = ruleset(THREE_RULES)
    decision = evaluate(
        rules, make_event(properties={"failure_reason": "NSF", "amount": 20}, traits=OPTED_IN), NONE
    )
    assert decision.rule == "second"
    assert decision.rule_index == 3
    assert (decision.outcome, decision.reason_code) == (Outcome.SEND, ReasonCode.SENT)
    assert (decision.action_type, decision.template_name, decision.channel) == (
        "send",
        "A",
        "email",
    )
    assert [(c.rule, c.status) for c in decision.checks] == [
        ("first", "failed"),
        ("off", "disabled"),
        ("second", "matched"),
    ]
    assert decision.reason == (
        "rule 'second' (#3) matched: properties.amount gt 10 (saw 20); send A by email; "
        'before it: #1 \'first\' failed: properties.failure_reason equals "FRAUD" (saw "NSF"); '
        "#2 'off' disabled"
    )


def test_a_later_rule_decides_when_the_earlier_ones_fail() -> None:
    decision = evaluate(
        ruleset(THREE_RULES), make_event(properties={"amount": "20"}, traits=OPTED_IN), NONE
    )
    assert decision.rule == "third"
    assert (
        "#3 'second' failed: properties.amount gt 10 (saw \"20\": a string is not comparable with a number)"
        in decision.reason
    )


def test_a_disabled_rule_is_skipped_even_when_it_would_match() -> None:
    rules = ruleset(
        """\
        - name: off
          enabled: false
          trigger: {event_type: signup_completed}
          action: {type: send, template_name: A, delivery_method: email}
        """
    )
    decision = evaluate(rules, make_event("signup_completed", traits=OPTED_IN), NONE)
    assert (decision.outcome, decision.reason_code, decision.rule) == (
        Outcome.NONE,
        ReasonCode.NO_RULE_MATCHED,
        None,
    )
    assert decision.reason == "no rule matched signup_completed: #1 'off' disabled"


def test_no_rule_for_the_event_type() -> None:
    decision = evaluate(ruleset(THREE_RULES), make_event("page_viewed"), NONE)
    assert decision.reason_code == ReasonCode.NO_RULE_MATCHED
    assert decision.reason == "no rule is triggered by page_viewed"
    assert decision.checks == ()


def test_no_rule_matched_says_what_each_one_saw() -> None:
    rules = ruleset(THREE_RULES.split("- name: third")[0])
    decision = evaluate(rules, make_event(properties={"failure_reason": "NSF"}), NONE)
    assert decision.reason == (
        "no rule matched payment_failed: #1 'first' failed: properties.failure_reason equals "
        "\"FRAUD\" (saw \"NSF\"); #2 'off' disabled; #3 'second' failed: properties.amount gt 10 "
        "(missing)"
    )


def test_type_none_stops_evaluation() -> None:
    rules = ruleset(
        """\
        - name: stop_for_staff
          trigger: {event_type: payment_failed}
          conditions: [{field: user_traits.email, operator: ends_with, value: "@staff.example"}]
          action: {type: none}
        - name: everyone
          trigger: {event_type: payment_failed}
          action: {type: send, template_name: A, delivery_method: email}
        """
    )
    staff = evaluate(rules, make_event(traits={"email": "a@staff.example", **OPTED_IN}), NONE)
    assert (staff.outcome, staff.reason_code, staff.rule) == (
        Outcome.NONE,
        ReasonCode.RULE_ACTION_NONE,
        "stop_for_staff",
    )
    assert staff.action_type == "none" and staff.template_name is None
    assert staff.suppression_key is None and staff.rate_limits == ()
    assert [c.rule for c in staff.checks] == ["stop_for_staff"]  # 'everyone' never evaluated
    assert "its action is none: evaluation stops, nothing is sent" in staff.reason
    other = evaluate(rules, make_event(traits={"email": "a@example.com", **OPTED_IN}), NONE)
    assert other.rule == "everyone"


# --- opt-in, categories, alerts --------------------------------------------------------

CATEGORIES = """\
settings:
  quiet_hours: {start: "21:00", end: "08:00"}
  marketing_cap: {count: 3, window: 24h}
rules:
  - name: marketing
    trigger: {event_type: promo}
    action: {type: send, template_name: A, delivery_method: push}
  - name: receipt
    trigger: {event_type: receipt}
    action: {type: send, template_name: B, delivery_method: email, category: transactional}
  - name: cx_alert
    trigger: {event_type: payment_failed}
    action: {type: send, template_name: ALERT, delivery_method: alert}
    suppression: {mode: once_per_calendar_day}
"""


@pytest.mark.parametrize(
    ("traits", "seen"),
    [
        ({}, "missing"),
        ({"marketing_opt_in": False}, "false"),
        ({"marketing_opt_in": "true"}, '"true"'),
    ],
)
def test_a_marketing_send_needs_the_opt_in(traits: dict[str, Any], seen: str) -> None:
    decision = evaluate(ruleset(CATEGORIES), make_event("promo", traits=traits), NONE)
    assert (decision.outcome, decision.reason_code) == (Outcome.SUPPRESS, ReasonCode.OPTED_OUT)
    assert decision.rule == "marketing" and decision.category == "marketing"
    assert f"user_traits.marketing_opt_in is {seen}, not true" in decision.reason
    assert decision.suppression_key is None and decision.rate_limits == ()


def test_an_opted_in_marketing_send_is_capped() -> None:
    decision = evaluate(ruleset(CATEGORIES), make_event("promo", traits=OPTED_IN), NONE)
    assert decision.outcome == Outcome.SEND
    until = ts("2024-01-15T10:30:00Z")
    assert decision.rate_limits == (
        RateLimit(
            "u1",
            None,
            3,
            timedelta(hours=24),
            until - timedelta(hours=24),
            until,
            ReasonCode.FREQUENCY_CAPPED,
        ),
    )
    assert global_cap(decision) == decision.rate_limits[0]


def test_a_transactional_send_needs_no_opt_in_and_is_not_capped() -> None:
    decision = evaluate(
        ruleset(CATEGORIES), make_event("receipt", traits={"marketing_opt_in": False}), NONE
    )
    assert (decision.outcome, decision.category) == (Outcome.SEND, "transactional")
    assert decision.rate_limits == () and global_cap(decision) is None


def test_a_transactional_send_waits_for_the_quiet_hours() -> None:
    decision = evaluate(ruleset(CATEGORIES), make_event("receipt", at="2024-01-15T23:00:00Z"), NONE)
    assert decision.outcome == Outcome.SCHEDULED


def test_an_alert_is_never_opt_in_gated_capped_or_held_for_quiet_hours() -> None:
    at_night = make_event(
        at="2024-01-15T03:00:00Z", traits={"marketing_opt_in": False, "timezone": "UTC"}
    )
    decision = evaluate(ruleset(CATEGORIES), at_night, NONE)
    assert (decision.outcome, decision.reason_code) == (Outcome.SEND, ReasonCode.SENT)
    assert (decision.channel, decision.category) == ("alert", "operational")
    assert decision.rate_limits == () and decision.send_at is None
    # Its own suppression still applies.
    assert decision.suppression_key == SuppressionKey(
        "u1", "cx_alert", "2024-01-15", ReasonCode.SUPPRESSED_CALENDAR_DAY
    )


# --- quiet hours -----------------------------------------------------------------------

QUIET = """\
settings:
  default_timezone: Europe/Berlin
  quiet_hours: {start: "21:00", end: "08:00"}
rules:
  - name: rule_own_hours
    trigger: {event_type: own}
    action: {type: send, template_name: A, delivery_method: sms}
    quiet_hours: {start: "12:00", end: "14:00"}
  - name: rule_no_hours
    trigger: {event_type: never_quiet}
    action: {type: send, template_name: A, delivery_method: sms}
    quiet_hours: false
  - name: rule_settings_hours
    trigger: {event_type: default}
    action: {type: send, template_name: A, delivery_method: sms}
"""


def test_quiet_hours_in_the_users_zone() -> None:
    # 2025-03-09 06:30 UTC is 01:30 in New York, the night the clocks go forward.
    event = make_event(
        "default", at="2025-03-09T06:30:00Z", traits={"timezone": "America/New_York", **OPTED_IN}
    )
    decision = evaluate(ruleset(QUIET), event, NONE)
    assert (decision.outcome, decision.reason_code) == (
        Outcome.SCHEDULED,
        ReasonCode.SCHEDULED_QUIET_HOURS,
    )
    assert decision.send_at == ts("2025-03-09T12:00:00Z")  # 08:00 EDT
    assert (
        "held for quiet hours 21:00-08:00 America/New_York (it is 2025-03-09 01:30 there) "
        "until 2025-03-09T12:00:00+00:00" in decision.reason
    )


def test_without_a_known_zone_the_default_zone_applies() -> None:
    at = "2024-01-15T20:30:00Z"  # 21:30 in Berlin, 20:30 in UTC
    no_zone = evaluate(ruleset(QUIET), make_event("default", at=at, traits=OPTED_IN), NONE)
    assert no_zone.send_at == ts("2024-01-16T07:00:00Z") and no_zone.notes == ()
    unknown = make_event("default", at=at, traits={"timezone": "Mars/Base", **OPTED_IN})
    decision = evaluate(ruleset(QUIET), unknown, NONE)
    assert decision.send_at == ts("2024-01-16T07:00:00Z")
    assert decision.notes == (
        'user_traits.timezone "Mars/Base" is not a time zone; used Europe/Berlin',
    )
    utc = evaluate(
        ruleset(QUIET), make_event("default", at=at, traits={"timezone": "UTC", **OPTED_IN}), NONE
    )
    assert utc.outcome == Outcome.SEND


def test_a_rules_own_quiet_hours_replace_the_settings() -> None:
    rules = ruleset(QUIET)
    lunch = make_event("own", at="2024-01-15T12:30:00Z", traits={"timezone": "UTC", **OPTED_IN})
    assert evaluate(rules, lunch, NONE).send_at == ts("2024-01-15T14:00:00Z")
    night = make_event("own", at="2024-01-15T23:00:00Z", traits={"timezone": "UTC", **OPTED_IN})
    assert evaluate(rules, night, NONE).outcome == Outcome.SEND
    never = make_event(
        "never_quiet", at="2024-01-15T23:00:00Z", traits={"timezone": "UTC", **OPTED_IN}
    )
    assert evaluate(rules, never, NONE).outcome == Outcome.SEND


def test_quiet_hours_are_judged_at_now_when_given() -> None:
    event = make_event("default", at="2024-01-15T23:00:00Z", traits={"timezone": "UTC", **OPTED_IN})
    assert evaluate(ruleset(QUIET), event, NONE).outcome == Outcome.SCHEDULED
    later = evaluate(ruleset(QUIET), event, NONE, now=ts("2024-01-16T09:00:00Z"))
    assert later.outcome == Outcome.SEND


# --- suppression claims ----------------------------------------------------------------

SUPPRESSION = """\
- name: once
  trigger: {event_type: once}
  action: {type: send, template_name: A, delivery_method: email}
  suppression: {mode: once_ever}
- name: daily
  trigger: {event_type: daily}
  action: {type: send, template_name: A, delivery_method: email}
  suppression: {mode: once_per_calendar_day}
- name: twice_a_day
  trigger: {event_type: limited}
  action: {type: send, template_name: A, delivery_method: email}
  suppression: {mode: max, count: 2, window: 24h}
- name: always
  trigger: {event_type: always}
  action: {type: send, template_name: A, delivery_method: email}
"""


def test_once_ever_is_a_key_per_user_and_rule() -> None:
    decision = evaluate(
        ruleset(SUPPRESSION), make_event("once", user_id="u9", traits=OPTED_IN), NONE
    )
    assert decision.suppression_key == SuppressionKey(
        "u9", "once", "once_ever", ReasonCode.SUPPRESSED_ONCE_EVER
    )
    assert decision.suppression_key.as_tuple() == ("u9", "once", "once_ever")
    assert decision.rate_limits == ()


@pytest.mark.parametrize(
    ("at", "day"),
    [
        ("2024-01-15T23:59:59Z", "2024-01-15"),
        ("2024-01-15T23:59:59.999999Z", "2024-01-15"),
        ("2024-01-16T00:00:00Z", "2024-01-16"),
        ("2024-01-16T01:00:00+02:00", "2024-01-15"),  # 23:00 UTC on the 15th
        ("2024-01-15T20:00:00-05:00", "2024-01-16"),  # 01:00 UTC on the 16th
    ],
)
def test_the_calendar_day_is_the_utc_date_of_the_events_own_timestamp(at: str, day: str) -> None:
    decision = evaluate(ruleset(SUPPRESSION), make_event("daily", at=at, traits=OPTED_IN), NONE)
    assert decision.suppression_key == SuppressionKey(
        "u1", "daily", day, ReasonCode.SUPPRESSED_CALENDAR_DAY
    )


def test_max_is_a_rolling_window_ending_at_the_event() -> None:
    decision = evaluate(
        ruleset(SUPPRESSION),
        make_event("limited", at="2024-01-15T10:30:00+01:00", traits=OPTED_IN),
        NONE,
    )
    assert decision.suppression_key is None
    assert decision.rate_limits == (
        RateLimit(
            "u1",
            "twice_a_day",
            2,
            timedelta(hours=24),
            ts("2024-01-14T09:30:00Z"),
            ts("2024-01-15T09:30:00Z"),
            ReasonCode.SUPPRESSED_RATE_LIMIT,
        ),
    )
    assert global_cap(decision) is None


def test_mode_none_claims_nothing() -> None:
    decision = evaluate(ruleset(SUPPRESSION), make_event("always", traits=OPTED_IN), NONE)
    assert decision.outcome == Outcome.SEND
    assert decision.suppression_key is None and decision.rate_limits == ()


# --- prior events ----------------------------------------------------------------------

PRIOR = """\
- name: reminder
  trigger: {event_type: onboarding_abandoned}
  conditions:
    all:
      - {field: user_traits.country, operator: equals, value: US}
      - prior_event: {event_type: signup_completed, within: 24h}
  action: {type: send, template_name: A, delivery_method: push}
- name: fallback
  trigger: {event_type: onboarding_abandoned}
  conditions:
    - not: {prior_event: {event_type: login, not_within: 7d}}
  action: {type: send, template_name: B, delivery_method: push}
"""


class Recording:
    def __init__(self, history: InMemoryPriorEvents) -> None:
        self.history = history
        self.calls: list[tuple[str, str]] = []

    def latest(self, user_id: str, event_type: str, before: Any) -> Any:
        self.calls.append((user_id, event_type))
        return self.history.latest(user_id, event_type, before)


def test_the_evaluator_asks_only_for_the_declared_prior_event_types() -> None:
    rules = ruleset(PRIOR)
    history = InMemoryPriorEvents()
    history.add("u1", "login", ts("2024-01-14T10:30:00Z"))
    prior = Recording(history)
    event = make_event("onboarding_abandoned", traits={"country": "US", **OPTED_IN})
    decision = evaluate(rules, event, prior)
    assert {t for _, t in prior.calls} <= rules.prior_event_types("onboarding_abandoned")
    assert prior.calls == [("u1", "signup_completed"), ("u1", "login")]
    assert decision.rule == "fallback"
    assert decision.prior_events == {"signup_completed": None, "login": ts("2024-01-14T10:30:00Z")}


def test_a_failed_clause_before_a_prior_event_check_saves_the_lookup() -> None:
    reminder_only = ruleset(PRIOR.split("- name: fallback")[0])
    prior = Recording(InMemoryPriorEvents())
    decision = evaluate(
        reminder_only, make_event("onboarding_abandoned", traits={"country": "DE"}), prior
    )
    assert decision.reason_code == ReasonCode.NO_RULE_MATCHED
    assert prior.calls == []


def test_prefetched_prior_events_serve_the_evaluator() -> None:
    rules = ruleset(PRIOR)
    wanted = rules.prior_event_types("onboarding_abandoned")
    assert wanted == {"signup_completed", "login"}
    # What a caller's one query returns: the latest of each wanted type for this user.
    fetched = {"signup_completed": ts("2024-01-14T10:30:00Z"), "login": None}
    prior = PrefetchedPriorEvents("u1", fetched)
    event = make_event("onboarding_abandoned", traits={"country": "US", **OPTED_IN})
    decision = evaluate(rules, event, prior)
    assert decision.rule == "reminder"
    assert (
        "prior signup_completed within 24h (latest at 2024-01-14T10:30:00+00:00, 24h before)"
        in decision.reason
    )
    with pytest.raises(ValueError, match="prefetched for user 'u1'"):
        prior.latest("u2", "login", ts("2024-01-15T00:00:00Z"))


# --- explanation -----------------------------------------------------------------------


def test_the_explanation_lists_every_step_and_the_decision_is_json_ready() -> None:
    rules = ruleset(
        """\
        settings:
          marketing_cap: {count: 3, window: 24h}
        rules:
          - name: reminder
            trigger: {event_type: onboarding_abandoned}
            conditions: [{prior_event: {event_type: signup_completed, within: 24h}}]
            action: {type: send, template_name: A, delivery_method: push}
            suppression: {mode: once_ever}
        """
    )
    history = InMemoryPriorEvents()
    history.add("u1", "signup_completed", ts("2024-01-15T09:30:00Z"))
    decision = evaluate(rules, make_event("onboarding_abandoned", traits=OPTED_IN), history)
    assert decision.explain().splitlines() == [
        f"event onboarding_abandoned of user u1 at 2024-01-15T10:30:00+00:00 (rules version {rules.version})",
        "  #1 reminder: matched: prior signup_completed within 24h (latest at 2024-01-15T09:30:00+00:00, 1h before)",
        "  prior signup_completed: 2024-01-15T09:30:00+00:00",
        "outcome: send (sent)",
        "  send A by push (marketing)",
        "  claim (u1, reminder, once_ever); already claimed: suppressed_once_ever",
        "  at most 3 sends of every marketing rule for u1 with events in "
        "[2024-01-14T10:30:00+00:00, 2024-01-15T10:30:00+00:00]; reached: frequency_capped",
        "reason: rule 'reminder' (#1) matched: prior signup_completed within 24h "
        "(latest at 2024-01-15T09:30:00+00:00, 1h before); send A by push",
    ]
    data = json.loads(json.dumps(decision.as_dict()))
    assert data["matched_rule"] == "reminder"
    assert data["outcome"] == "send" and data["reason_code"] == "sent"
    assert data["suppression_key"] == {
        "key": ["u1", "reminder", "once_ever"],
        "reason_code": "suppressed_once_ever",
    }
    assert data["rate_limits"][0]["window_seconds"] == 86400
    assert data["prior_events"] == {"signup_completed": "2024-01-15T09:30:00+00:00"}
    assert decision.rules_version == rules.version


ODD_VALUES: list[Any] = [
    None,
    "",
    "x",
    0,
    -1.5,
    10**30,
    True,
    False,
    [],
    [1, "a"],
    {},
    {"a": {"b": 1}},
    "2024-01-01T00:00:00Z",
    "nan",
]


def test_no_operator_raises_whatever_the_event_holds() -> None:
    # Every operator with a string and a number rule value, against values of every kind.
    assert set(_TESTS) | {"exists", "not_exists"} == set(OPERATORS)
    values = {
        "equals": ["a", 1],
        "not_equals": ["a", 1],
        "in": [["a"], [1]],
        "not_in": [["a"], [1]],
        "gt": [1, "2024-01-01T00:00:00Z"],
        "gte": [1, "2024-01-01T00:00:00Z"],
        "lt": [1, "2024-01-01T00:00:00Z"],
        "lte": [1, "2024-01-01T00:00:00Z"],
        "between": [[1, 2], ["2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z"]],
        "contains": ["a", 1],
        "starts_with": ["a"],
        "ends_with": ["a"],
        "matches": ["^a"],
        "exists": [None],
        "not_exists": [None],
    }
    rules_text = "".join(
        f"- name: r{i}_{operator}\n  trigger: {{event_type: x}}\n  conditions: "
        f"[{{field: properties.v, operator: {operator}"
        + ("" if value is None else f", value: {json.dumps(value)}")
        + "}]\n  action: {type: none}\n"
        for operator, choices in values.items()
        for i, value in enumerate(choices)
    )
    rules = ruleset(rules_text)
    for value in ODD_VALUES:
        for compiled in rules.compiled:
            assert compiled.rule.conditions is not None
            result = verdict(compiled.rule.conditions, properties={"v": value})
            assert isinstance(result.held, bool) and result.detail
        assert evaluate(rules, make_event("x", properties={"v": value}), NONE).reason


def test_a_now_without_a_zone_is_utc() -> None:
    from datetime import datetime

    event = make_event("default", traits={"timezone": "UTC", **OPTED_IN})
    decision = evaluate(ruleset(QUIET), event, NONE, now=datetime(2024, 1, 15, 23, 0))
    assert decision.send_at == ts("2024-01-16T08:00:00Z")
