"""``omnirelay rules check`` and ``omnirelay rules simulate``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from omnirelay.cli import app
from tests.messaging.test_shipped_rules import CONFIG, SEED_EVENT

RULES = str(CONFIG / "rules.yaml")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["rules", *args])
    return result.exit_code, result.stdout, result.stderr


def test_check_prints_one_line_with_the_version() -> None:
    code, out, _ = run("check", RULES)
    assert code == 0
    (line,) = out.splitlines()
    assert line.startswith(f"OK {RULES}: ")
    assert "rules (" in line and "version sha256:" in line


def test_check_lists_every_problem(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "A.j2").write_text("hello")
    bad = tmp_path / "rules.yaml"
    bad.write_text(
        "- name: r\n"
        "  trigger: {event_type: x}\n"
        "  conditions: [{field: properties.a, operator: eq, value: 1}]\n"
        "  action: {type: send, template_name: NOPE, delivery_method: email}\n"
        "- name: s\n"
        "  trigger: {event_type: x}\n"
        "  action: {type: send, template_name: A, delivery_method: pigeon}\n"
    )
    code, out, err = run("check", str(bad))
    assert code == 1 and out == ""
    assert err.splitlines() == [
        f"{bad}: 3 problems",
        "  rule #1 'r': conditions.all[0].operator: unknown operator 'eq' (known: equals, not_equals, in, not_in, gt, gte, lt, lte, between, contains, starts_with, ends_with, exists, not_exists, matches)",
        "  rule #1 'r': action.template_name: unknown template 'NOPE' (known: A)",
        "  rule #2 's': action.delivery_method: unknown delivery_method 'pigeon' (known: email, sms, push, alert)",
    ]


def test_check_takes_a_templates_directory(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text((CONFIG / "rules.yaml").read_text())
    code, _, err = run("check", str(rules))
    assert code == 1 and f"no templates directory {tmp_path / 'templates'}" in err
    code, out, _ = run("check", str(rules), "--templates", str(CONFIG / "templates"))
    assert code == 0 and out.startswith("OK ")


def test_check_of_a_missing_file(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    code, _, err = run("check", str(tmp_path / "absent.yaml"))
    assert code == 1 and "file: No such file or directory" in err


def _event_file(tmp_path: Path, **changes: object) -> str:
    path = tmp_path / "event.json"
    path.write_text(json.dumps({**SEED_EVENT, **changes}))
    return str(path)


def test_simulate_prints_the_decision_and_its_explanation(tmp_path: Path) -> None:
    code, out, _ = run("simulate", _event_file(tmp_path), "--rules", RULES)
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].startswith(
        "event payment_failed of user user_12345 at 2024-01-15T10:30:00+00:00"
    )
    assert "  #2 high_risk_payment_failure_alert: failed: none of:" in out
    assert (
        '  #3 insufficient_funds_email: matched: properties.failure_reason equals "INSUFFICIENT_FUNDS"'
        in out
    )
    assert "outcome: send (sent)" in lines
    assert (
        "  claim (user_12345, insufficient_funds_email, 2024-01-15); already claimed: suppressed_calendar_day"
        in lines
    )
    assert lines[-1].startswith("reason: rule 'insufficient_funds_email' (#3) matched")


def test_simulate_with_prior_events_profile_and_json(tmp_path: Path) -> None:
    event = _event_file(
        tmp_path,
        event_type="onboarding_abandoned",
        event_timestamp="2024-03-10T06:30:00Z",
        properties={},
        user_traits={"timezone": "America/New_York"},
    )
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({"marketing_opt_in": True, "timezone": "Europe/Berlin"}))
    code, out, _ = run(
        "simulate",
        event,
        "--rules",
        RULES,
        "--prior",
        "signup_completed=2024-03-09T06:30:00Z",
        "--prior",
        "signup_completed=2024-01-01T00:00:00Z",
        "--profile",
        str(profile),
        "--json",
    )
    assert code == 0, out
    decision = json.loads(out)
    assert decision["matched_rule"] == "onboarding_reminder_push"
    assert decision["outcome"] == "scheduled"
    assert decision["send_at"] == "2024-03-10T12:00:00+00:00"  # 08:00 EDT, the DST morning
    assert decision["prior_events"] == {"signup_completed": "2024-03-09T06:30:00+00:00"}

    code, out, _ = run("simulate", event, "--rules", RULES, "--profile", str(profile), "--json")
    assert json.loads(out)["reason_code"] == "no_rule_matched"

    code, out, _ = run(
        "simulate",
        event,
        "--rules",
        RULES,
        "--profile",
        str(profile),
        "--prior",
        "signup_completed=2024-03-09T06:30:00Z",
        "--now",
        "2024-03-10T13:00:00Z",
        "--json",
    )
    assert json.loads(out)["outcome"] == "send"


def test_simulate_refuses_bad_input(tmp_path: Path) -> None:
    event = _event_file(tmp_path)
    code, _, err = run("simulate", event, "--rules", RULES, "--prior", "signup_completed")
    assert code == 2 and "is not TYPE=ISO8601" in err
    code, _, err = run("simulate", event, "--rules", RULES, "--now", "noon")
    assert code == 2 and "is not an ISO 8601 date-time" in err
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    code, _, err = run("simulate", str(broken), "--rules", RULES)
    assert code == 2 and "not JSON" in err
    incomplete = tmp_path / "incomplete.json"
    incomplete.write_text(json.dumps({"user_id": "u1"}))
    code, _, err = run("simulate", str(incomplete), "--rules", RULES)
    assert code == 2 and "event_type: Field required" in err
    code, _, err = run(
        "simulate",
        event,
        "--rules",
        str(tmp_path / "absent.yaml"),
        "--templates",
        str(CONFIG / "templates"),
    )
    assert code == 1 and "No such file or directory" in err


def test_simulate_reads_the_rules_file_the_service_is_configured_with(
    tmp_path: Path, monkeypatch: Any
) -> None:
    shutil.copytree(CONFIG, tmp_path / "config")
    rules = tmp_path / "config" / "rules.yaml"
    rules.write_text(rules.read_text().replace("insufficient_funds_email", "funds_mail"))
    monkeypatch.setenv("RULES_FILE", str(rules))
    code, out, _ = run("simulate", _event_file(tmp_path))
    assert code == 0, out
    assert "#3 funds_mail: matched" in out
