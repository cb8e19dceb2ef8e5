"""The rule engine: load a rules file into a RuleSet, evaluate an event into a Decision.

    rules = load_rules("config/rules.yaml", template_names("config/templates"))
    event = MessagingEvent.model_validate(payload).with_profile(stored_traits)
    prior = PrefetchedPriorEvents(event.user_id, latest_by_type)  # for rules.prior_event_types(...)
    decision = evaluate(rules, event, prior, now=datetime.now(UTC))

Pure: no I/O, no clock, nothing global.
"""

from omnirelay.messaging.rules.decision import (
    Decision,
    Outcome,
    RateLimit,
    ReasonCode,
    RuleCheck,
    SuppressionKey,
)
from omnirelay.messaging.rules.evaluate import evaluate
from omnirelay.messaging.rules.event import MessagingEvent, merge_traits
from omnirelay.messaging.rules.loader import (
    Problem,
    RulesFileError,
    load_rules,
    load_rules_text,
    template_names,
)
from omnirelay.messaging.rules.prior import InMemoryPriorEvents, PrefetchedPriorEvents, PriorEvents
from omnirelay.messaging.rules.ruleset import RuleSet

__all__ = [
    "Decision",
    "InMemoryPriorEvents",
    "MessagingEvent",
    "Outcome",
    "PrefetchedPriorEvents",
    "PriorEvents",
    "Problem",
    "RateLimit",
    "ReasonCode",
    "RuleCheck",
    "RuleSet",
    "RulesFileError",
    "SuppressionKey",
    "evaluate",
    "load_rules",
    "load_rules_text",
    "merge_traits",
    "template_names",
]
