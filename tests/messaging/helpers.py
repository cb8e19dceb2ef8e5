"""Building rule sets, events and condition checks for the messaging tests."""

from __future__ import annotations

import textwrap
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter

from omnirelay.messaging.rules.conditions import EvaluationContext, Verdict, compile_condition
from omnirelay.messaging.rules.event import MessagingEvent
from omnirelay.messaging.rules.loader import load_rules_text
from omnirelay.messaging.rules.prior import InMemoryPriorEvents, PriorEvents
from omnirelay.messaging.rules.ruleset import RuleSet
from omnirelay.messaging.rules.schema import Condition, parse_datetime

TEMPLATES = frozenset({"A", "B", "C", "ALERT", "WELCOME_EMAIL", "INSUFFICIENT_FUNDS_EMAIL"})
AT = "2024-01-15T10:30:00Z"


def ts(text: str) -> datetime:
    parsed = parse_datetime(text)
    assert parsed is not None, text
    return parsed


def ruleset(text: str, templates: frozenset[str] = TEMPLATES) -> RuleSet:
    return load_rules_text(textwrap.dedent(text), templates, source="test.yaml")


def make_event(
    event_type: str = "payment_failed",
    *,
    user_id: str = "u1",
    at: str = AT,
    properties: dict[str, Any] | None = None,
    traits: dict[str, Any] | None = None,
) -> MessagingEvent:
    return MessagingEvent(
        user_id=user_id,
        event_type=event_type,
        event_timestamp=ts(at),
        properties=properties or {},
        user_traits=traits or {},
    )


_CONDITION = TypeAdapter(Condition)


def verdict(
    condition: Any,
    *,
    properties: dict[str, Any] | None = None,
    traits: dict[str, Any] | None = None,
    event_type: str = "payment_failed",
    at: str = AT,
    prior: PriorEvents | None = None,
) -> Verdict:
    """Validate one condition as the loader would and test it against an event."""
    node = _CONDITION.validate_python(condition)
    ctx = EvaluationContext(
        user_id="u1",
        event_type=event_type,
        timestamp=ts(at),
        properties=properties or {},
        user_traits=traits or {},
        prior=prior or InMemoryPriorEvents(),
    )
    return compile_condition(node).test(ctx)


def clause(field: str, operator: str, value: Any = ..., **event: Any) -> Verdict:
    condition: dict[str, Any] = {"field": field, "operator": operator}
    if value is not ...:
        condition["value"] = value
    return verdict(condition, **event)


def global_cap(decision: Any) -> Any:
    """The marketing cap across rules among a decision's limits (None when it has none)."""
    return next((limit for limit in decision.rate_limits if limit.rule_name is None), None)
