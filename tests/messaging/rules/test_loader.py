"""Loading rules files: the seed's own example as it is, the extensions, and problems that
name the rule, the field and what is wrong, every one of them at once."""

from __future__ import annotations

import hashlib
import textwrap
from datetime import time, timedelta
from pathlib import Path

import pytest

from omnirelay.messaging.rules.loader import (
    Problem,
    RulesFileError,
    load_rules,
    load_rules_text,
    template_names,
)
from tests.messaging.helpers import TEMPLATES, ruleset

# Seed 003's example rule, as written there.
SEED_EXAMPLE = """\
- name: "insufficient_funds_email"
  description: "Send insufficient funds email once per calendar day"
  enabled: true
  trigger:
    event_type: "payment_failed"
  conditions:
    all:
      - field: "properties.failure_reason"
        operator: "equals"
        value: "INSUFFICIENT_FUNDS"
  action:
    type: "send"
    template_name: "INSUFFICIENT_FUNDS_EMAIL"
    delivery_method: "email"
  suppression:
    mode: "once_per_calendar_day"
"""


def problems(text: str, templates: frozenset[str] = TEMPLATES) -> list[str]:
    with pytest.raises(RulesFileError) as caught:
        ruleset(text, templates)
    return [str(problem) for problem in caught.value.problems]


def one_rule(body: str) -> str:
    """A file of one rule named ``r`` triggered by ``x``, with ``body`` added."""
    return "- name: r\n  trigger: {event_type: x}\n" + textwrap.indent(textwrap.dedent(body), "  ")


def test_the_seed_example_loads_unchanged() -> None:
    rules = load_rules_text(SEED_EXAMPLE, {"INSUFFICIENT_FUNDS_EMAIL"})
    (rule,) = rules.rules
    assert rule.name == "insufficient_funds_email"
    assert rule.trigger.event_type == ("payment_failed",)
    assert rule.action.delivery_method == "email"
    assert rule.action.category == "marketing"
    assert rule.suppression.mode == "once_per_calendar_day"
    assert rule.quiet_hours is None
    assert rules.settings.quiet_hours is None and rules.settings.marketing_cap is None
    assert rules.version == hashlib.sha256(SEED_EXAMPLE.encode()).hexdigest()


def test_the_mapping_form_carries_settings() -> None:
    rules = ruleset(
        """\
        settings:
          default_timezone: Europe/Berlin
          quiet_hours: {start: 21:00, end: 08:00}
          marketing_cap: {count: 3, window: 24h}
        rules:
          - name: r
            trigger: {event_type: [a, b]}
            action: {type: send, template_name: A, delivery_method: push}
            suppression: {mode: max, count: 2, window: 1d12h}
            quiet_hours: false
        """
    )
    settings = rules.settings
    assert settings.default_timezone == "Europe/Berlin"
    assert settings.quiet_hours is not None
    # Unquoted 21:00 is a time here (PyYAML's YAML 1.1 would read the integer 1260).
    assert (settings.quiet_hours.start, settings.quiet_hours.end) == (time(21), time(8))
    assert settings.marketing_cap is not None
    assert settings.marketing_cap.window == timedelta(hours=24)
    (rule,) = rules.rules
    assert rule.trigger.event_type == ("a", "b")
    assert rule.suppression.window == timedelta(hours=36)
    assert rule.quiet_hours is False
    assert rules.event_types == {"a", "b"}


def test_yaml_reads_country_codes_and_numbers_as_written() -> None:
    rules = ruleset(
        one_rule(
            """\
            conditions:
              - {field: user_traits.country, operator: in, value: [NO, ON, Y, yes]}
              - {field: properties.code, operator: equals, value: 012}
            action: {type: none}
            """
        )
    )
    conditions = rules.rules[0].conditions
    assert conditions is not None
    first, second = conditions.all  # type: ignore[union-attr]
    assert first.value == ("NO", "ON", "Y", "yes")
    assert second.value == 12


def test_a_bare_list_of_conditions_means_all_and_none_means_always() -> None:
    listed = ruleset(
        one_rule("conditions:\n  - {field: event_type, operator: exists}\naction: {type: none}\n")
    )
    assert type(listed.rules[0].conditions).__name__ == "AllOf"
    for empty in ("conditions: {}\n", "conditions:\n", ""):
        rules = ruleset(one_rule(empty + "action: {type: none}\n"))
        assert rules.rules[0].conditions is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "conditions: {all: [{field: properties.a, operator: eq, value: 1}]}\naction: {type: none}",
            "rule #1 'r': conditions.all[0].operator: unknown operator 'eq' (known: equals,",
        ),
        (
            "action: {type: send, template_name: A, delivery_method: fax}",
            "rule #1 'r': action.delivery_method: unknown delivery_method 'fax' (known: email, sms, push, alert)",
        ),
        (
            "action: {type: send, template_name: NOPE, delivery_method: email}",
            "rule #1 'r': action.template_name: unknown template 'NOPE' (known: A, ALERT, B, C,",
        ),
        (
            "conditions: [{field: traits.a, operator: exists}]\naction: {type: none}",
            "rule #1 'r': conditions.all[0].field: unknown field 'traits.a': a path starts with one of properties, user_traits, event_type, event_timestamp, user_id",
        ),
        (
            "conditions: [{field: properties, operator: exists}]\naction: {type: none}",
            "conditions.all[0].field: name a field inside properties",
        ),
        (
            "conditions: [{field: event_type.x, operator: exists}]\naction: {type: none}",
            "conditions.all[0].field: event_type has no fields inside it",
        ),
        (
            "conditions: {any: [{not: {field: properties.a, operator: between, value: [5, 1]}}]}\naction: {type: none}",
            "rule #1 'r': conditions.any[0].not.value: between needs low <= high, not [5, 1]",
        ),
        (
            "conditions: [{field: properties.a, operator: between, value: [1]}]\naction: {type: none}",
            "conditions.all[0].value: between needs [low, high]",
        ),
        (
            "conditions: [{field: properties.a, operator: in, value: []}]\naction: {type: none}",
            "conditions.all[0].value: in needs a non-empty list of values",
        ),
        (
            "conditions: [{field: properties.a, operator: in, value: [[1]]}]\naction: {type: none}",
            "conditions.all[0].value: in compares with a string, number, boolean or date-time, not a list",
        ),
        (
            "conditions: [{field: properties.a, operator: exists, value: true}]\naction: {type: none}",
            "conditions.all[0].value: exists takes no value",
        ),
        (
            "conditions: [{field: properties.a, operator: equals}]\naction: {type: none}",
            "conditions.all[0].value: equals needs a value",
        ),
        (
            "conditions: [{field: properties.a, operator: equals, value: null}]\naction: {type: none}",
            "conditions.all[0].value: equals cannot compare with null: use exists or not_exists",
        ),
        (
            "conditions: [{field: properties.a, operator: gt, value: abc}]\naction: {type: none}",
            "conditions.all[0].value: gt compares with a number or an ISO 8601 date-time, not 'abc'",
        ),
        (
            "conditions: [{field: properties.a, operator: gt, value: 2024-01-01T00:00:00}]\naction: {type: none}",
            "conditions.all[0].value: the date-time 2024-01-01T00:00:00 needs a zone offset",
        ),
        (
            "conditions: [{field: event_timestamp, operator: equals, value: soon}]\naction: {type: none}",
            "conditions.all[0].value: equals on a date-time needs an ISO 8601 date-time, not 'soon'",
        ),
        (
            "conditions: [{field: properties.a, operator: matches, value: '(?<=a)b'}]\naction: {type: none}",
            "conditions.all[0].value: the pattern '(?<=a)b' is not accepted",
        ),
        (
            "conditions: [{allx: []}]\naction: {type: none}",
            "rule #1 'r': conditions.all[0]: a condition is {all: [...]}, {any: [...]}, {not: ...}, {prior_event: ...} or a clause {field, operator, value}",
        ),
        (
            "conditions: [{field: properties.a, operator: exists, negate: true}]\naction: {type: none}",
            "conditions.all[0].negate: unknown field",
        ),
        (
            "conditions: {any: []}\naction: {type: none}",
            "conditions.any: List should have at least 1 item",
        ),
        (
            "conditions: [{prior_event: {event_type: signup_completed}}]\naction: {type: none}",
            "conditions.all[0].prior_event: give exactly one of within or not_within",
        ),
        (
            "conditions: [{prior_event: {event_type: s, within: 24 hours}}]\naction: {type: none}",
            "conditions.all[0].prior_event.within: write a duration like '24h', '7d' or '90m', not '24 hours'",
        ),
        (
            "conditions: [{prior_event: {event_type: s, within: 0h}}]\naction: {type: none}",
            "prior_event.within: a duration must be longer than zero",
        ),
        (
            "action: {type: none, template_name: A}",
            "rule #1 'r': action: type none sends nothing: remove template_name",
        ),
        (
            "action: {type: send, template_name: A}",
            "rule #1 'r': action: type send needs delivery_method",
        ),
        ("action: {type: email}", "rule #1 'r': action.type: Input should be 'send' or 'none'"),
        (
            "action: {type: send, template_name: ALERT, delivery_method: alert, category: marketing}",
            "action: an alert is operational, not marketing",
        ),
        (
            "action: {type: send, template_name: A, delivery_method: sms, category: operational}",
            "action: operational is the alert's category",
        ),
        ("action: {type: none}\nsuppression: {mode: weekly}", "suppression.mode: Input should be"),
        (
            "action: {type: none}\nsuppression: {mode: max, count: 2}",
            "suppression: mode max needs count and window",
        ),
        (
            "action: {type: none}\nsuppression: {mode: once_ever, count: 2}",
            "suppression: count and window belong to mode max",
        ),
        (
            "action: {type: none}\nquiet_hours: {start: 21:00, end: 24:00}",
            "quiet_hours.end: write a time of day as 'HH:MM'",
        ),
        (
            "action: {type: none}\nquiet_hours: {start: 21:00, end: 21:00}",
            "quiet_hours: start and end are the same time",
        ),
        (
            "action: {type: none}\nquiet_hours: true",
            "quiet_hours: quiet hours are {start: 'HH:MM', end: 'HH:MM'}, or false for none",
        ),
        (
            "action: {type: none}\nsupression: {mode: none}",
            "rule #1 'r': supression: unknown field",
        ),
        ("description: no action", "rule #1 'r': action: required"),
    ],
)
def test_a_problem_names_the_rule_the_field_and_what_is_wrong(body: str, expected: str) -> None:
    found = problems(one_rule(body + "\n"))
    assert any(expected in problem for problem in found), found


def test_a_rule_without_a_name_is_named_by_its_position() -> None:
    found = problems(
        """\
        - name: ok
          trigger: {event_type: x}
          action: {type: none}
        - trigger: {event_type: x}
          action: {type: none}
        - 5
        - name: " padded "
          trigger: {event_type: x}
          action: {type: none}
        """
    )
    assert found == [
        "rule #2: name: required",
        "rule #3: a rule is a mapping: name, trigger, action, ...",
        "rule #4 ' padded ': name: the name ' padded ' starts or ends with spaces",
    ]


def test_a_name_longer_than_the_audit_keeps_is_a_problem_when_loaded() -> None:
    longest = "r" * 200
    assert (
        load_rules_text(
            f"- name: {longest}\n  trigger: {{event_type: x}}\n  action: {{type: none}}\n", set()
        )
        .rules[0]
        .name
        == longest
    )
    found = problems(
        f"- name: {longest}r\n  trigger: {{event_type: x}}\n  action: {{type: none}}\n"
    )
    assert found == [f"rule #1 '{longest}r': name: String should have at most 200 characters"]


def test_every_problem_is_reported_at_once() -> None:
    found = problems(
        """\
        settings:
          default_timezone: Mars/Olympus_Mons
          marketing_cap: {count: 0, window: 24h}
        rules:
          - name: first
            trigger: {event_type: x}
            action: {type: send, template_name: MISSING, delivery_method: email}
          - name: first
            trigger: {event_type: []}
            action: {type: none}
          - name: third
            trigger: {event_type: x}
            conditions: [{field: properties.a, operator: like, value: 1}]
            action: {type: none}
        """
    )
    assert found == [
        "settings: default_timezone: unknown time zone 'Mars/Olympus_Mons' (an IANA name like 'America/New_York')",
        "settings: marketing_cap.count: Input should be greater than or equal to 1",
        "rule #1 'first': action.template_name: unknown template 'MISSING' (known: A, ALERT, B, C, INSUFFICIENT_FUNDS_EMAIL, WELCOME_EMAIL)",
        "rule #2 'first': trigger.event_type: name an event type, or a list of them",
        "rule #3 'third': conditions.all[0].operator: unknown operator 'like' (known: equals, not_equals, in, not_in, gt, gte, lt, lte, between, contains, starts_with, ends_with, exists, not_exists, matches)",
    ]


def test_two_rules_of_one_name_are_a_problem() -> None:
    rule = "- name: twice\n  trigger: {event_type: x}\n  action: {type: none}\n"
    assert problems(rule * 2) == ["rule #2 'twice': name: rule #1 has the same name"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- name: r\n  trigger: {event_type: x\n", "file: not valid YAML at line 3, column 1"),
        ("- name: r\n  name: s\n", "the key 'name' is given twice"),
        ("rules: []\nsetings: {}\n", "file: setings: unknown top-level key (settings, rules)"),
        ("settings: {}\n", "file: rules: needs a list of rules"),
        (
            "just text",
            "file: a rules file is a list of rules, or a mapping with settings and rules",
        ),
        ("", "file: a rules file is a list of rules"),
    ],
)
def test_problems_with_the_file_itself(text: str, expected: str) -> None:
    found = problems(text)
    assert any(expected in problem for problem in found), found


def test_the_error_lists_every_problem_under_the_file_name() -> None:
    with pytest.raises(RulesFileError) as caught:
        ruleset(
            one_rule("action: {type: send, template_name: A, delivery_method: fax}\nbogus: 1\n")
        )
    assert str(caught.value).splitlines() == [
        "test.yaml: 2 problems",
        "  rule #1 'r': action.delivery_method: unknown delivery_method 'fax' (known: email, sms, push, alert)",
        "  rule #1 'r': bogus: unknown field",
    ]
    assert caught.value.problems[1] == Problem("rule #1 'r'", "bogus", "unknown field")


def test_no_templates_known_is_said_so() -> None:
    found = problems(
        one_rule("action: {type: send, template_name: A, delivery_method: sms}"), frozenset()
    )
    assert found == [
        "rule #1 'r': action.template_name: unknown template 'A' (no templates are known)"
    ]


def test_the_version_is_the_sha256_of_the_file_and_changes_with_it(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(SEED_EXAMPLE)
    first = load_rules(path, TEMPLATES)
    assert first.version == hashlib.sha256(path.read_bytes()).hexdigest()
    assert load_rules(path, TEMPLATES).version == first.version
    path.write_text(SEED_EXAMPLE + "# a comment changes the bytes\n")
    assert load_rules(path, TEMPLATES).version != first.version
    path.write_text(SEED_EXAMPLE.replace("once_per_calendar_day", "once_ever"))
    changed = load_rules(path, TEMPLATES)
    assert changed.version != first.version
    # Loads keep nothing global: the first set is as it was.
    assert first.rules[0].suppression.mode == "once_per_calendar_day"
    assert changed.rules[0].suppression.mode == "once_ever"
    assert changed.source == str(path)


def test_a_file_that_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(RulesFileError) as caught:
        load_rules(tmp_path / "absent.yaml", TEMPLATES)
    assert caught.value.problems == [Problem("file", "", "No such file or directory")]


def test_template_names_are_the_files_of_a_directory(tmp_path: Path) -> None:
    for name in ("WELCOME_EMAIL.j2", "RECEIPT.subject.j2", "RECEIPT.body.j2", "notes.txt"):
        (tmp_path / name).write_text("x")
    (tmp_path / "NESTED.j2").mkdir()
    assert template_names(tmp_path) == {"WELCOME_EMAIL", "RECEIPT"}
    assert template_names(tmp_path / "absent") == frozenset()


def test_the_prior_event_types_rules_may_look_up() -> None:
    rules = ruleset(
        """\
        - name: a
          trigger: {event_type: [onboarding_abandoned, app_opened]}
          conditions:
            any:
              - prior_event: {event_type: signup_completed, within: 24h}
              - not: {prior_event: {event_type: login, not_within: 7d}}
          action: {type: none}
        - name: b
          enabled: false
          trigger: {event_type: app_opened}
          conditions: [{prior_event: {event_type: purchase, within: 1h}}]
          action: {type: none}
        - name: c
          trigger: {event_type: payment_failed}
          action: {type: none}
        """
    )
    assert rules.prior_event_types("onboarding_abandoned") == {"signup_completed", "login"}
    assert rules.prior_event_types("app_opened") == {"signup_completed", "login"}  # b is off
    assert rules.prior_event_types("payment_failed") == frozenset()
    assert rules.prior_event_types("unknown") == frozenset()
    assert rules.prior_event_types() == {"signup_completed", "login"}
    assert [c.index for c in rules.triggered_by("app_opened")] == [1, 2]


def test_an_unknown_template_is_reported_beside_the_rules_other_problems() -> None:
    found = problems(
        one_rule(
            "conditions: [{field: properties.a, operator: eq, value: 1}]\n"
            "action: {type: send, template_name: NOPE, delivery_method: email}\n"
        )
    )
    assert [problem.split(": ")[1] for problem in found] == [
        "conditions.all[0].operator",
        "action.template_name",
    ]
