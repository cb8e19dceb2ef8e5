"""What the evaluator answers: a Decision, with what the caller must claim before sending.

The evaluator decides what the rules say. Whether an earlier send suppresses this one is
for the caller to find out, atomically, in the database: the decision carries the
suppression key of the matched rule (a unique claim) and the rate limits to count, each
with the reason code to record when it stops the send.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple


class Outcome(StrEnum):
    SEND = "send"
    SCHEDULED = "scheduled"  # send at ``Decision.send_at``, when the quiet hours end
    SUPPRESS = "suppress"
    NONE = "none"  # nothing to send: no rule matched, or the rule's action is none


class ReasonCode(StrEnum):
    SENT = "sent"
    SCHEDULED_QUIET_HOURS = "scheduled_quiet_hours"
    NO_RULE_MATCHED = "no_rule_matched"
    RULE_ACTION_NONE = "rule_action_none"
    OPTED_OUT = "opted_out"
    # Decided by the caller's claims (see SuppressionKey and RateLimit):
    SUPPRESSED_ONCE_EVER = "suppressed_once_ever"
    SUPPRESSED_CALENDAR_DAY = "suppressed_calendar_day"
    SUPPRESSED_RATE_LIMIT = "suppressed_rate_limit"
    FREQUENCY_CAPPED = "frequency_capped"


@dataclass(frozen=True, slots=True)
class SuppressionKey:
    """A claim that succeeds once: ``(user_id, rule_name, scope)`` with ``scope`` either
    ``"once_ever"`` or the UTC date of the event's own timestamp (``"2024-01-15"``). A
    claim that finds the key taken is a suppression with ``reason_code``."""

    user_id: str
    rule_name: str
    scope: str
    reason_code: ReasonCode

    def as_tuple(self) -> tuple[str, str, str]:
        return (self.user_id, self.rule_name, self.scope)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``count`` sends counted for ``user_id`` with an event timestamp in
    ``[since, until]`` (a rolling ``window`` ending at this event): of ``rule_name``, or
    of every marketing rule when ``rule_name`` is None (the global marketing cap). When
    ``count`` are already there, this send is suppressed with ``reason_code``."""

    user_id: str
    rule_name: str | None
    count: int
    window: timedelta
    since: datetime
    until: datetime
    reason_code: ReasonCode


class RuleCheck(NamedTuple):
    """What one rule triggered by the event came to: ``matched``, ``failed`` (``detail``:
    the condition that failed and the value it saw) or ``disabled``."""

    rule_index: int  # 1-based position in the file
    rule: str
    status: str
    detail: str


@dataclass(frozen=True, slots=True)
class Decision:
    user_id: str
    event_type: str
    event_timestamp: datetime
    rules_version: str
    outcome: Outcome
    reason_code: ReasonCode
    reason: str
    rule: str | None = None  # the matched rule's name
    rule_index: int | None = None
    action_type: str | None = None  # "send" | "none"
    template_name: str | None = None
    channel: str | None = None  # the delivery method: email | sms | push | alert
    category: str | None = None  # marketing | transactional | operational
    send_at: datetime | None = None  # when scheduled: the end of the quiet hours (UTC)
    suppression_key: SuppressionKey | None = None
    rate_limits: tuple[RateLimit, ...] = ()
    checks: tuple[RuleCheck, ...] = ()
    # Every prior-event lookup made: event type → the latest one's timestamp, or None.
    prior_events: dict[str, datetime | None] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # e.g. an unknown time zone replaced by the default

    def explain(self) -> str:
        """Every step, one per line: the rules considered, the decision, what to claim."""
        lines = [
            f"event {self.event_type} of user {self.user_id} at "
            f"{self.event_timestamp.isoformat()} (rules version {self.rules_version})"
        ]
        if not self.checks:
            lines.append(f"  no rule is triggered by {self.event_type}")
        lines.extend(f"  #{c.rule_index} {c.rule}: {c.status}: {c.detail}" for c in self.checks)
        for event_type, latest in self.prior_events.items():
            seen = latest.isoformat() if latest else "none"
            lines.append(f"  prior {event_type}: {seen}")
        lines.append(f"outcome: {self.outcome} ({self.reason_code})")
        if self.action_type == "send":
            lines.append(f"  send {self.template_name} by {self.channel} ({self.category})")
        if self.send_at is not None:
            lines.append(f"  send at {self.send_at.isoformat()}")
        if self.suppression_key is not None:
            key = self.suppression_key
            lines.append(
                f"  claim ({key.user_id}, {key.rule_name}, {key.scope}); "
                f"already claimed: {key.reason_code}"
            )
        for limit in self.rate_limits:
            what = f"rule {limit.rule_name}" if limit.rule_name else "every marketing rule"
            lines.append(
                f"  at most {limit.count} sends of {what} for {limit.user_id} with events in "
                f"[{limit.since.isoformat()}, {limit.until.isoformat()}]; "
                f"reached: {limit.reason_code}"
            )
        lines.extend(f"  note: {note}" for note in self.notes)
        lines.append(f"reason: {self.reason}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, object]:
        """The decision as JSON-ready data (timestamps in ISO 8601)."""

        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        key = self.suppression_key
        return {
            "user_id": self.user_id,
            "event_type": self.event_type,
            "event_timestamp": iso(self.event_timestamp),
            "rules_version": self.rules_version,
            "matched_rule": self.rule,
            "rule_index": self.rule_index,
            "action_type": self.action_type,
            "template_name": self.template_name,
            "channel": self.channel,
            "category": self.category,
            "outcome": str(self.outcome),
            "reason_code": str(self.reason_code),
            "reason": self.reason,
            "send_at": iso(self.send_at),
            "suppression_key": None
            if key is None
            else {"key": list(key.as_tuple()), "reason_code": str(key.reason_code)},
            "rate_limits": [
                {
                    "rule": limit.rule_name,
                    "count": limit.count,
                    "window_seconds": limit.window.total_seconds(),
                    "since": iso(limit.since),
                    "until": iso(limit.until),
                    "reason_code": str(limit.reason_code),
                }
                for limit in self.rate_limits
            ],
            "checks": [
                {"rule_index": c.rule_index, "rule": c.rule, "status": c.status, "detail": c.detail}
                for c in self.checks
            ],
            "prior_events": {k: iso(v) for k, v in self.prior_events.items()},
            "notes": list(self.notes),
        }
