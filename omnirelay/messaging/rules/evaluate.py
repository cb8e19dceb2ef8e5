"""Evaluating one event against a rule set: the first enabled matching rule decides.

Pure: no I/O, no clock. Prior events come from the caller's ``PriorEvents``; the time the
quiet hours are judged at is ``now`` (the caller passes the real time; it defaults to the
event's own timestamp, which keeps a simulation repeatable).

After the match, in order: ``type: none`` stops with nothing to send; a marketing send
needs ``user_traits.marketing_opt_in`` to be true; a send that is not an alert is held
until the quiet hours end. Suppression by earlier sends is the caller's to decide, with
the claims the decision carries.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from omnirelay.messaging.rules.conditions import EvaluationContext, show
from omnirelay.messaging.rules.decision import (
    Decision,
    Outcome,
    RateLimit,
    ReasonCode,
    RuleCheck,
    SuppressionKey,
)
from omnirelay.messaging.rules.event import MessagingEvent
from omnirelay.messaging.rules.prior import PriorEvents
from omnirelay.messaging.rules.quiet_hours import quiet_period_end
from omnirelay.messaging.rules.ruleset import CompiledRule, RuleSet
from omnirelay.messaging.rules.schema import QuietHours, Rule, load_zone


def evaluate(
    rules: RuleSet,
    event: MessagingEvent,
    prior: PriorEvents,
    *,
    now: datetime | None = None,
) -> Decision:
    """The decision for ``event`` (its traits already merged with the stored profile, see
    ``merge_traits``)."""
    ctx = EvaluationContext(
        user_id=event.user_id,
        event_type=event.event_type,
        timestamp=event.event_timestamp,
        properties=event.properties,
        user_traits=event.user_traits,
        prior=prior,
    )
    checks: list[RuleCheck] = []
    for compiled in rules.triggered_by(event.event_type):
        name = compiled.rule.name
        if not compiled.rule.enabled:
            checks.append(RuleCheck(compiled.index, name, "disabled", "skipped"))
            continue
        verdict = compiled.condition.test(ctx)
        checks.append(
            RuleCheck(compiled.index, name, "matched" if verdict.held else "failed", verdict.detail)
        )
        if verdict.held:
            judged_at = now or event.event_timestamp
            if judged_at.tzinfo is None:
                judged_at = judged_at.replace(tzinfo=UTC)
            return _decide(rules, compiled, event, ctx, checks, judged_at)

    return Decision(
        user_id=event.user_id,
        event_type=event.event_type,
        event_timestamp=event.event_timestamp,
        rules_version=rules.version,
        outcome=Outcome.NONE,
        reason_code=ReasonCode.NO_RULE_MATCHED,
        reason=_no_match_reason(event.event_type, checks),
        checks=tuple(checks),
        prior_events=dict(ctx.lookups),
    )


def _decide(
    rules: RuleSet,
    compiled: CompiledRule,
    event: MessagingEvent,
    ctx: EvaluationContext,
    checks: list[RuleCheck],
    now: datetime,
) -> Decision:
    rule = compiled.rule
    action = rule.action
    matched = f"rule {rule.name!r} (#{compiled.index}) matched: {checks[-1].detail}"
    before = _before_reason(checks[:-1])
    sending = f"{action.template_name} by {action.delivery_method}"
    suppression_key: SuppressionKey | None = None
    rate_limits: tuple[RateLimit, ...] = ()
    send_at: datetime | None = None
    notes: tuple[str, ...] = ()
    opt_in = event.user_traits.get("marketing_opt_in")

    if action.type == "none":
        outcome, code = Outcome.NONE, ReasonCode.RULE_ACTION_NONE
        reason = f"{matched}; its action is none: evaluation stops, nothing is sent{before}"
    elif action.category == "marketing" and opt_in is not True:
        outcome, code = Outcome.SUPPRESS, ReasonCode.OPTED_OUT
        seen = "missing" if opt_in is None else show(opt_in)
        reason = (
            f"{matched}; {sending} is marketing and user_traits.marketing_opt_in is {seen}, "
            f"not true{before}"
        )
    else:
        suppression_key = _suppression_key(rule, event)
        rate_limits = _rate_limits(rules, rule, event)
        outcome, code = Outcome.SEND, ReasonCode.SENT
        reason = f"{matched}; send {sending}{before}"
        quiet = _quiet_hours(rules, rule)
        if quiet is not None:
            zone, notes = _zone(rules, event.user_traits)
            send_at = quiet_period_end(now, quiet, zone)
            if send_at is not None:
                outcome, code = Outcome.SCHEDULED, ReasonCode.SCHEDULED_QUIET_HOURS
                reason = (
                    f"{matched}; {sending} held for quiet hours "
                    f"{quiet.start:%H:%M}-{quiet.end:%H:%M} {zone.key} (it is "
                    f"{now.astimezone(zone):%Y-%m-%d %H:%M} there) until "
                    f"{send_at.isoformat()}{before}"
                )

    sends = action.type == "send"
    return Decision(
        user_id=event.user_id,
        event_type=event.event_type,
        event_timestamp=event.event_timestamp,
        rules_version=rules.version,
        outcome=outcome,
        reason_code=code,
        reason=reason,
        rule=rule.name,
        rule_index=compiled.index,
        action_type=action.type,
        template_name=action.template_name if sends else None,
        channel=action.delivery_method if sends else None,
        category=action.category if sends else None,
        send_at=send_at,
        suppression_key=suppression_key,
        rate_limits=rate_limits,
        checks=tuple(checks),
        prior_events=dict(ctx.lookups),
        notes=notes,
    )


def _suppression_key(rule: Rule, event: MessagingEvent) -> SuppressionKey | None:
    mode = rule.suppression.mode
    if mode == "once_ever":
        return SuppressionKey(
            event.user_id, rule.name, "once_ever", ReasonCode.SUPPRESSED_ONCE_EVER
        )
    if mode == "once_per_calendar_day":
        day = event.event_timestamp.astimezone(UTC).date().isoformat()
        return SuppressionKey(event.user_id, rule.name, day, ReasonCode.SUPPRESSED_CALENDAR_DAY)
    return None


def _rate_limits(rules: RuleSet, rule: Rule, event: MessagingEvent) -> tuple[RateLimit, ...]:
    until = event.event_timestamp.astimezone(UTC)
    limits = []
    suppression = rule.suppression
    if suppression.mode == "max" and suppression.count and suppression.window:
        limits.append(
            RateLimit(
                event.user_id,
                rule.name,
                suppression.count,
                suppression.window,
                until - suppression.window,
                until,
                ReasonCode.SUPPRESSED_RATE_LIMIT,
            )
        )
    cap = rules.settings.marketing_cap
    if cap is not None and rule.action.category == "marketing":
        limits.append(
            RateLimit(
                event.user_id,
                None,
                cap.count,
                cap.window,
                until - cap.window,
                until,
                ReasonCode.FREQUENCY_CAPPED,
            )
        )
    return tuple(limits)


def _quiet_hours(rules: RuleSet, rule: Rule) -> QuietHours | None:
    if rule.action.category == "operational" or rule.quiet_hours is False:
        return None
    return rule.quiet_hours if rule.quiet_hours is not None else rules.settings.quiet_hours


def _zone(rules: RuleSet, traits: dict[str, Any]) -> tuple[ZoneInfo, tuple[str, ...]]:
    default = load_zone(rules.settings.default_timezone) or ZoneInfo("UTC")
    name = traits.get("timezone")
    if name is None:
        return default, ()
    zone = load_zone(name) if isinstance(name, str) and name else None
    if zone is None:
        return default, (
            f"user_traits.timezone {show(name)} is not a time zone; used {default.key}",
        )
    return zone, ()


def _before_reason(checks: list[RuleCheck]) -> str:
    if not checks:
        return ""
    return "; before it: " + "; ".join(_check_text(check) for check in checks)


def _check_text(check: RuleCheck) -> str:
    if check.status == "disabled":
        return f"#{check.rule_index} {check.rule!r} disabled"
    return f"#{check.rule_index} {check.rule!r} failed: {check.detail}"


def _no_match_reason(event_type: str, checks: list[RuleCheck]) -> str:
    if not checks:
        return f"no rule is triggered by {event_type}"
    return f"no rule matched {event_type}: " + "; ".join(_check_text(c) for c in checks)
