"""Conditions: every operator, kinds that do not compare, missing fields, paths, trees,
regular expressions that cannot hang, and prior-event windows at their edges."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from omnirelay.messaging.rules.conditions import show_duration
from omnirelay.messaging.rules.prior import InMemoryPriorEvents
from omnirelay.messaging.rules.schema import MAX_PATTERN_LENGTH
from tests.messaging.helpers import AT, clause, ts, verdict


@pytest.mark.parametrize(
    ("operator", "value", "seen", "held"),
    [
        ("equals", "INSUFFICIENT_FUNDS", "INSUFFICIENT_FUNDS", True),
        ("equals", "INSUFFICIENT_FUNDS", "insufficient_funds", False),
        ("equals", 1, 1.0, True),
        ("equals", True, True, True),
        ("equals", False, True, False),
        ("not_equals", "US", "DE", True),
        ("not_equals", "US", "US", False),
        ("not_equals", 2, 3, True),
        ("in", ["US", "CA"], "CA", True),
        ("in", ["US", "CA"], "DE", False),
        ("in", [1, 2, 3], 2, True),
        ("not_in", ["US", "CA"], "DE", True),
        ("not_in", ["US", "CA"], "US", False),
        ("gt", 10, 10.5, True),
        ("gt", 10, 10, False),
        ("gte", 10, 10, True),
        ("gte", 10, 9.99, False),
        ("lt", 10, 9, True),
        ("lt", 10, 10, False),
        ("lte", 10, 10, True),
        ("lte", 10, 11, False),
        ("between", [10, 20], 10, True),
        ("between", [10, 20], 20, True),
        ("between", [10, 20], 15.5, True),
        ("between", [10, 20], 20.01, False),
        ("between", [10, 20], 9, False),
        ("contains", "FUNDS", "INSUFFICIENT_FUNDS", True),
        ("contains", "CARD", "INSUFFICIENT_FUNDS", False),
        ("contains", "vip", ["new", "vip"], True),
        ("contains", 3, [1, 2, 3], True),
        ("contains", "3", [1, 2, 3], False),
        ("contains", "x", ["new", "vip"], False),
        ("starts_with", "INSUFFICIENT", "INSUFFICIENT_FUNDS", True),
        ("starts_with", "FUNDS", "INSUFFICIENT_FUNDS", False),
        ("ends_with", "_FUNDS", "INSUFFICIENT_FUNDS", True),
        ("ends_with", "INSUFFICIENT", "INSUFFICIENT_FUNDS", False),
        ("matches", "^premium(_[a-z]+)?$", "premium_yearly", True),
        ("matches", "^premium(_[a-z]+)?$", "basic", False),
        ("matches", "(?i)FUNDS", "insufficient_funds", True),
        ("matches", "funds", "insufficient_funds_total", True),  # search, not full match
    ],
)
def test_operator(operator: str, value: Any, seen: Any, held: bool) -> None:
    result = clause("properties.x", operator, value, properties={"x": seen})
    assert result.held is held, result.detail
    assert result.detail.startswith(f"properties.x {operator} ")


@pytest.mark.parametrize(
    ("operator", "value", "seen", "why"),
    [
        ("equals", 5, "5", "a string is not comparable with a number"),
        ("equals", "5", 5, "a number is not comparable with a string"),
        ("equals", 1, True, "a boolean is not comparable with a number"),
        ("equals", True, "true", "a string is not comparable with a boolean"),
        ("not_equals", "5", 5, "a number is not comparable with a string"),
        ("in", ["1", "2"], 1, "a number is not comparable with a string"),
        ("not_in", [1, 2], "1", "a string is not comparable with a number"),
        ("gt", 10, "29.99", "a string is not comparable with a number"),
        ("gte", 10, [11], "a list is not comparable with a number"),
        ("lt", 10, {"amount": 1}, "a object is not comparable with a number"),
        ("lte", 10, False, "a boolean is not comparable with a number"),
        ("between", [1, 2], "1.5", "a string is not comparable with a number"),
        ("gt", "2024-01-01T00:00:00Z", "yesterday", "a string is not comparable with a date-time"),
        ("gt", "2024-01-01T00:00:00Z", 1700000000, "a number is not comparable with a date-time"),
        ("contains", "a", 123, "contains looks inside a string or a list, not a number"),
        ("contains", 1, "123", "a string contains strings, not a number"),
        ("starts_with", "1", 123, "starts_with tests a string, not a number"),
        ("ends_with", "1", 123, "ends_with tests a string, not a number"),
        ("matches", "^1", 123, "matches tests a string, not a number"),
    ],
)
def test_values_of_another_kind_do_not_match_and_say_why(
    operator: str, value: Any, seen: Any, why: str
) -> None:
    result = clause("properties.x", operator, value, properties={"x": seen})
    assert result.held is False
    assert why in result.detail
    assert "saw " in result.detail


@pytest.mark.parametrize(
    ("operator", "value"),
    [
        ("equals", "a"),
        ("not_equals", "a"),
        ("in", ["a"]),
        ("not_in", ["a"]),
        ("gt", 1),
        ("gte", 1),
        ("lt", 1),
        ("lte", 1),
        ("between", [1, 2]),
        ("contains", "a"),
        ("starts_with", "a"),
        ("ends_with", "a"),
        ("matches", "a"),
        ("exists", ...),
    ],
)
@pytest.mark.parametrize("properties", [{}, {"x": None}, {"y": 1}])
def test_a_missing_or_null_field_matches_nothing_but_not_exists(
    operator: str, value: Any, properties: dict[str, Any]
) -> None:
    result = clause("properties.x", operator, value, properties=properties)
    assert result.held is False
    assert result.detail.endswith("(missing)")
    assert clause("properties.x", "not_exists", properties=properties).held


def test_exists_and_not_exists() -> None:
    for present in ("", 0, False, [], {}, "a"):
        assert clause("user_traits.phone", "exists", traits={"phone": present}).held
        result = clause("user_traits.phone", "not_exists", traits={"phone": present})
        assert not result.held
        assert "saw" in result.detail
    assert clause("user_traits.phone", "exists").detail == "user_traits.phone exists (missing)"


def test_nested_paths_and_list_indexes() -> None:
    properties = {"payment": {"amount": 120.5, "card": {"brand": "visa"}}, "items": [{"sku": "A1"}]}
    assert clause("properties.payment.amount", "gt", 100, properties=properties).held
    assert clause("properties.payment.card.brand", "equals", "visa", properties=properties).held
    assert clause("properties.items.0.sku", "equals", "A1", properties=properties).held
    assert clause("properties.items.1.sku", "exists", properties=properties).held is False
    # A path through a value that has no fields is missing, not an error.
    assert clause("properties.payment.amount.cents", "exists", properties=properties).held is False
    assert clause("properties.items.first", "not_exists", properties=properties).held


def test_event_fields() -> None:
    assert clause("event_type", "equals", "payment_failed").held
    assert clause("event_type", "starts_with", "payment_").held
    assert clause("user_id", "in", ["u1", "u2"]).held
    assert clause("event_timestamp", "gte", "2024-01-15T10:30:00Z").held
    assert clause("event_timestamp", "lt", "2024-01-15T10:30:00Z").held is False
    assert clause("event_timestamp", "equals", "2024-01-15T11:30:00+01:00").held
    assert clause(
        "event_timestamp", "between", ["2024-01-15T00:00:00Z", "2024-01-15T23:59:59Z"]
    ).held


def test_date_times_in_properties_compare_as_date_times() -> None:
    properties = {"paid_at": "2024-01-10T08:00:00+02:00"}
    assert clause("properties.paid_at", "lt", "2024-01-10T07:00:00Z", properties=properties).held
    # equals with a quoted string compares strings (except on event_timestamp); a YAML
    # date-time (unquoted) compares instants.
    same_instant = "2024-01-10T06:00:00Z"
    assert clause("properties.paid_at", "equals", same_instant, properties=properties).held is False
    assert clause("properties.paid_at", "equals", ts(same_instant), properties=properties).held
    assert clause(
        "properties.paid_at", "equals", "2024-01-10T08:00:00+02:00", properties=properties
    ).held


def test_trees_of_all_any_and_not() -> None:
    tree = {
        "all": [
            {"field": "properties.failure_reason", "operator": "equals", "value": "NSF"},
            {
                "any": [
                    {"field": "user_traits.country", "operator": "in", "value": ["US", "CA"]},
                    {
                        "all": [
                            {"field": "properties.amount", "operator": "gt", "value": 100},
                            {
                                "not": {
                                    "field": "user_traits.vip",
                                    "operator": "equals",
                                    "value": True,
                                }
                            },
                        ]
                    },
                ]
            },
        ]
    }
    held = verdict(
        tree, properties={"failure_reason": "NSF", "amount": 5}, traits={"country": "US"}
    )
    assert held.held
    assert "all of:" in held.detail
    second_branch = verdict(
        tree, properties={"failure_reason": "NSF", "amount": 500}, traits={"country": "DE"}
    )
    assert second_branch.held
    vip = verdict(
        tree,
        properties={"failure_reason": "NSF", "amount": 500},
        traits={"country": "DE", "vip": True},
    )
    assert vip.held is False
    assert 'user_traits.country in ["US", "CA"] (saw "DE")' in vip.detail
    assert "not [user_traits.vip equals true (saw true)]" in vip.detail
    first_fails = verdict(tree, properties={"failure_reason": "CARD"}, traits={"country": "US"})
    assert first_fails.detail == 'properties.failure_reason equals "NSF" (saw "CARD")'


def test_empty_all_holds_and_not_inverts() -> None:
    assert verdict({"all": []}).held
    assert verdict({"not": {"all": []}}).held is False
    assert verdict({"not": {"field": "properties.x", "operator": "exists"}}).held


def test_regex_matching_is_linear_in_time() -> None:
    # Catastrophic for a backtracking engine: (a+)+$ against a long run of a's and a b.
    subject = "a" * 200_000 + "b"
    started = time.perf_counter()
    result = clause("properties.x", "matches", "(a+)+$", properties={"x": subject})
    assert time.perf_counter() - started < 1.0
    assert result.held is False


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("a" * (MAX_PATTERN_LENGTH + 1), f"at most {MAX_PATTERN_LENGTH}"),
        ("(a)\\1", "no backreferences or lookaround"),
        ("foo(?=bar)", "no backreferences or lookaround"),
        ("(unclosed", "is not accepted"),
        ("", "non-empty string"),
    ],
)
def test_patterns_refused_when_the_rule_loads(pattern: str, problem: str) -> None:
    with pytest.raises(ValidationError) as caught:
        clause("properties.x", "matches", pattern)
    assert problem in str(caught.value)


def test_a_pattern_of_the_longest_length_is_accepted() -> None:
    pattern = "a" * MAX_PATTERN_LENGTH
    assert clause("properties.x", "matches", pattern, properties={"x": pattern}).held


# --- prior events ----------------------------------------------------------------------


def _history(*times: str, event_type: str = "signup_completed") -> InMemoryPriorEvents:
    history = InMemoryPriorEvents()
    for at in times:
        history.add("u1", event_type, ts(at))
    return history


WITHIN_24H = {"prior_event": {"event_type": "signup_completed", "within": "24h"}}
NOT_WITHIN_24H = {"prior_event": {"event_type": "signup_completed", "not_within": "24h"}}


@pytest.mark.parametrize(
    ("signup", "within"),
    [
        ("2024-01-14T10:30:00Z", True),  # exactly 24 h before: inside
        ("2024-01-14T10:29:59.999999Z", False),  # 24 h + 1 µs: outside
        ("2024-01-14T10:30:00.000001Z", True),
        ("2024-01-15T10:29:59.999999Z", True),  # 1 µs before
        ("2024-01-10T00:00:00Z", False),
    ],
)
def test_prior_event_window_edges(signup: str, within: bool) -> None:
    prior = _history(signup)
    assert verdict(WITHIN_24H, prior=prior).held is within
    assert verdict(NOT_WITHIN_24H, prior=prior).held is not within


def test_no_prior_event_is_not_within() -> None:
    result = verdict(WITHIN_24H, prior=_history())
    assert result.held is False
    assert result.detail == "prior signup_completed within 24h (no prior signup_completed)"
    assert verdict(NOT_WITHIN_24H, prior=_history()).held


def test_only_the_latest_prior_event_counts() -> None:
    # Signed up 30 h ago and again 2 h ago: the latest (2 h) is what the window sees.
    prior = _history("2024-01-14T04:30:00Z", "2024-01-15T08:30:00Z")
    result = verdict(NOT_WITHIN_24H, prior=prior)
    assert result.held is False
    assert "latest at 2024-01-15T08:30:00+00:00, 2h before" in result.detail


def test_events_at_or_after_this_one_are_not_prior() -> None:
    prior = _history(AT, "2024-01-15T11:00:00Z")
    assert verdict(WITHIN_24H, prior=prior).held is False


def test_another_users_events_are_not_prior() -> None:
    prior = InMemoryPriorEvents()
    prior.add("someone_else", "signup_completed", ts("2024-01-15T10:00:00Z"))
    assert verdict(WITHIN_24H, prior=prior).held is False


def test_each_prior_event_type_is_looked_up_once() -> None:
    calls: list[str] = []
    history = _history("2024-01-15T09:00:00Z")

    class Counting:
        def latest(self, user_id: str, event_type: str, before: Any) -> Any:
            calls.append(event_type)
            return history.latest(user_id, event_type, before)

    tree = {"all": [WITHIN_24H, {"not": NOT_WITHIN_24H}, WITHIN_24H]}
    assert verdict(tree, prior=Counting()).held
    assert calls == ["signup_completed"]


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(hours=24), "24h"),
        (timedelta(hours=24, microseconds=1), "24h0m0.000001s"),
        (timedelta(days=7), "7d"),
        (timedelta(minutes=90), "1h30m"),
        (timedelta(0), "0s"),
        (timedelta(seconds=-5), "-5s"),
    ],
)
def test_durations_are_shown_as_written(delta: timedelta, text: str) -> None:
    assert show_duration(delta) == text
