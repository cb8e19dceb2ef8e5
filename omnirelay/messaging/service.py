"""Deciding a stored event: its user's profile, its prior events, the rules, the claims, the
decision recorded and, for a send, the send enqueued — all in the caller's transaction.

The order inside that transaction matters:

1. the user's profile row is locked (decisions of one user take turns over their traits);
2. the rules are evaluated with the profile's traits filling in what the event omits;
3. a send claims its suppression window, then its rule's cap, then the marketing cap, in a
   savepoint: when one is taken, the others are given back, and the send is suppressed
   with that claim's reason code;
4. the decision is written, and a send is handed to ``sending.enqueue_send``.

Services flush, never commit; the caller's scope commits all of it or none. The code is
synchronous: a decision is a dozen small statements, run as one unit of work
(``db.run_transaction``), on SQLite in one hop to the writer thread instead of a hop per
statement.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from omnirelay.messaging import repository, sending
from omnirelay.messaging.rules import (
    Decision,
    MessagingEvent,
    Outcome,
    PrefetchedPriorEvents,
    RateLimit,
    RuleSet,
    evaluate,
)
from omnirelay.messaging.sending import NewSend

# Known traits kept as profile columns, with the longest text each column holds (None: a
# boolean). A value that does not fit its column is kept in ``other`` instead.
KNOWN_TRAITS: dict[str, int | None] = {
    "email": 320,
    "phone": 50,
    "country": 50,
    "marketing_opt_in": None,
    "timezone": 64,
    "risk_segment": 50,
}
OUTCOMES = {
    Outcome.SEND: "allow",
    Outcome.SCHEDULED: "allow",
    Outcome.SUPPRESS: "suppress",
    Outcome.NONE: "none",
}
MARKETING_SCOPE = "marketing"
# what Decision.as_dict() gives that message_decisions keeps in columns of its own
IN_COLUMNS = frozenset(
    {"user_id", "event_type", "event_timestamp", "rules_version", "matched_rule"}
    | {"action_type", "template_name", "channel", "outcome", "reason_code", "reason"}
)


@dataclass(frozen=True)
class StoredEvent:
    """An event as stored in ``marketing_events``, ready to decide."""

    id: int
    storefront_id: int
    event: MessagingEvent
    # the latest earlier event of each type the rules look up, when already read (None:
    # decide reads them)
    prior: dict[str, datetime] | None = None


def profile_traits(values: Mapping[Any, Any]) -> dict[str, Any]:
    """The traits a profile row's values hold: its columns and ``other``."""
    traits = dict(values["other"] or {})
    for name in KNOWN_TRAITS:
        value = values[name]
        if value is not None:
            traits[name] = value
    return traits


def fits_column(name: str, value: Any) -> bool:
    length = KNOWN_TRAITS[name]
    if length is None:
        return isinstance(value, bool)
    return isinstance(value, str) and len(value) <= length


def profile_changes(
    profile: Any, known: dict[str, Any], event: MessagingEvent
) -> dict[str, Any] | None:
    """The profile's new values after the event (None: unchanged). The event's traits are
    the latest known ones; an event older than the traits already known fills in only
    what the profile lacks."""
    given = {key: value for key, value in event.user_traits.items() if value is not None}
    if not given:
        return None
    at = event.event_timestamp
    newer = profile.traits_at is None or at >= profile.traits_at
    merged = known | given if newer else given | known
    if merged == known:
        return None
    values: dict[str, Any] = {
        name: value if value is not None and fits_column(name, value) else None
        for name in KNOWN_TRAITS
        for value in (merged.get(name),)
    }
    other = {
        name: value
        for name, value in merged.items()
        if name not in KNOWN_TRAITS or not fits_column(name, value)
    }
    values["other"] = other or None
    values["updated_at"] = datetime.now(UTC)
    if newer:
        values["traits_at"] = at
    return values


def _profile_after(session: Session, stored: StoredEvent) -> dict[str, Any]:
    """The profile's traits to evaluate the event with, the profile row locked and brought
    up to date with the event's traits: in one statement when every trait the event gives
    has its column, else read, merged here and written back."""
    event, key = stored.event, (stored.storefront_id, stored.event.user_id)
    given = {name: value for name, value in event.user_traits.items() if value is not None}
    if not all(name in KNOWN_TRAITS and fits_column(name, value) for name, value in given.items()):
        profile = repository.lock_profile(session, *key)
        known = profile_traits(profile._mapping)
        changes = profile_changes(profile, known, event)
        if changes is not None:
            repository.update_profile(session, *key, changes)
        return known
    row = dict(repository.lock_profile(session, *key, given, event.event_timestamp)._mapping)
    # A known trait whose earlier value did not fit its column is kept in ``other``: as in
    # profile_changes, a newer event's value replaces it, an older one's gives way to it.
    other = row["other"] or {}
    if stale := [name for name in given if name in other]:
        older = row["traits_at"] is not None and row["traits_at"] > event.event_timestamp
        fix = (
            {name: None for name in stale}
            if older
            else {"other": {k: v for k, v in other.items() if k not in stale} or None}
        )
        repository.update_profile(session, *key, fix)
        row |= fix
    return profile_traits(row)


@dataclass(frozen=True)
class Recorded:
    """A decision as written (the fields the API answers)."""

    id: int
    event_id: int
    user_id: str
    event_type: str
    rule: str | None
    action_type: str | None
    template_name: str | None
    channel: str | None
    outcome: str
    reason: str
    reason_code: str


def decide(session: Session, rules: RuleSet, stored: StoredEvent, *, now: datetime) -> Recorded:
    """Decide ``stored`` under ``rules`` and record it (see the module docstring)."""
    event = stored.event
    merged = event.with_profile(_profile_after(session, stored))

    latest = stored.prior
    if latest is None:
        latest = repository.latest_prior_events(
            session,
            stored.storefront_id,
            event.user_id,
            rules.prior_event_types(event.event_type),
            event.event_timestamp,
            stored.id,
        )
    decision = evaluate(rules, merged, PrefetchedPriorEvents(event.user_id, latest), now=now)

    outcome, reason = OUTCOMES[decision.outcome], decision.reason
    reason_code = str(decision.reason_code)
    claimed: list[str] = []
    if decision.outcome in (Outcome.SEND, Outcome.SCHEDULED):
        blocked = _claim(session, stored, decision, now, claimed)
        if blocked is not None:
            outcome, reason_code, reason = "suppress", blocked[0], f"{reason}; {blocked[1]}"
        elif claimed:
            reason = f"{reason}; suppression check passed ({', '.join(claimed)})"
    sends = outcome == "allow"

    # Decision.explain() renders the same facts as text, when someone reads them. What the
    # decision's own columns hold (the reason, the rule, the outcome...) is not kept twice.
    explanation = {k: v for k, v in decision.as_dict().items() if k not in IN_COLUMNS}
    explanation["claimed"] = claimed if sends else []
    values = dict(
        event_id=stored.id,
        storefront_id=stored.storefront_id,
        user_id=event.user_id,
        event_type=event.event_type,
        event_timestamp=event.event_timestamp,
        rule=decision.rule,
        action_type=decision.action_type,
        template_name=decision.template_name,
        channel=decision.channel,
        outcome=outcome,
        reason_code=reason_code,
        reason=reason,
        explanation=explanation,
        rules_version=decision.rules_version,
        decided_at=now,
        scheduled_for=decision.send_at if sends else None,
    )
    if not sends:
        decision_id = repository.insert_decision(session, values)
    else:
        assert decision.rule and decision.template_name and decision.channel
        send = NewSend(
            decision_id=0,  # the decision's, once written
            event_id=stored.id,
            storefront_id=stored.storefront_id,
            user_id=event.user_id,
            rule_name=decision.rule,
            template_name=decision.template_name,
            channel=decision.channel,
            context=send_context(stored, merged),
            not_before=decision.send_at,
        )
        decision_id = sending.record_decision_and_send(session, values, send)
    return Recorded(
        id=decision_id,
        event_id=stored.id,
        user_id=event.user_id,
        event_type=event.event_type,
        rule=decision.rule,
        action_type=decision.action_type,
        template_name=decision.template_name,
        channel=decision.channel,
        outcome=outcome,
        reason=reason,
        reason_code=reason_code,
    )


def send_context(stored: StoredEvent, event: MessagingEvent) -> dict[str, Any]:
    return {
        "event": {
            "event_id": stored.id,
            "user_id": event.user_id,
            "event_type": event.event_type,
            "event_timestamp": event.event_timestamp.isoformat(),
        },
        "properties": event.properties,
        "user_traits": event.user_traits,
    }


def _claim(
    session: Session,
    stored: StoredEvent,
    decision: Decision,
    now: datetime,
    claimed: list[str],
) -> tuple[str, str] | None:
    """Take every claim the send needs, or none: (reason code, why) of the first one taken
    by earlier sends."""
    if (decision.suppression_key is not None) + len(decision.rate_limits) < 2:
        # one claim (or none): nothing to give back when it is taken
        return _claim_each(session, stored, decision, now, claimed)
    savepoint = session.begin_nested()
    blocked = _claim_each(session, stored, decision, now, claimed)
    if blocked is None:
        savepoint.commit()
    else:
        savepoint.rollback()
        claimed.clear()
    return blocked


def _claim_each(
    session: Session,
    stored: StoredEvent,
    decision: Decision,
    now: datetime,
    claimed: list[str],
) -> tuple[str, str] | None:
    event = stored.event
    key = decision.suppression_key
    if key is not None:
        earlier = repository.claim_suppression(
            session,
            stored.storefront_id,
            key.user_id,
            key.rule_name,
            key.scope,
            stored.id,
            event.event_timestamp,
            now,
        )
        if earlier is not None:
            window = "once ever" if key.scope == "once_ever" else f"once on {key.scope} (UTC)"
            return str(key.reason_code), (
                f"suppressed: {key.rule_name} is sent {window} and event #{earlier.event_id} "
                f"(at {earlier.event_timestamp.isoformat()}) claimed it at "
                f"{earlier.claimed_at.isoformat()}"
            )
        claimed.append(f"{key.rule_name} {key.scope}")
    for limit in decision.rate_limits:
        scope = MARKETING_SCOPE if limit.rule_name is None else f"rule:{limit.rule_name}"
        took = repository.claim_cap_slot(
            session,
            stored.storefront_id,
            limit.user_id,
            scope,
            limit.count,
            limit.since,
            limit.until,
            stored.id,
        )
        if not took:
            return str(limit.reason_code), _cap_reason(session, stored, limit, scope)
        claimed.append(f"{scope} {limit.count} per {_duration(limit)}")
    return None


def _cap_reason(session: Session, stored: StoredEvent, limit: RateLimit, scope: str) -> str:
    holders = repository.cap_holders(
        session, stored.storefront_id, limit.user_id, scope, limit.count
    )
    sends = ", ".join(
        f"event #{event_id} at {held_at.isoformat()}"
        for event_id, held_at in holders
        if held_at is not None and held_at >= limit.since
    )
    what = "the marketing cap" if limit.rule_name is None else f"{limit.rule_name}'s cap"
    return (
        f"suppressed: {what} of {limit.count} per {_duration(limit)} is reached by the sends "
        f"of {sends or 'other events'} (window {limit.since.isoformat()} to "
        f"{limit.until.isoformat()})"
    )


def _duration(limit: RateLimit) -> str:
    seconds = int(limit.window.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
