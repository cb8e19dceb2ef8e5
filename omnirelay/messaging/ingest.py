"""POST /events: a behavioural event stored and decided in one transaction.

The event is stored in ``marketing_events`` (``source_system`` ``behavioural_api``, its raw
payload as sent) under a key the database keeps unique: the producer's
``client_event_id``, or else a hash of the user, type, timestamp and properties. Posting it
again inserts nothing, and the first decision is answered; nothing is sent twice.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy.orm import Session

from omnirelay.errors import Conflict, Forbidden, InvalidInput
from omnirelay.messaging import repository
from omnirelay.messaging.rules import MessagingEvent, RuleSet
from omnirelay.messaging.schemas import DecisionOut, EventIn
from omnirelay.messaging.service import KNOWN_TRAITS, Recorded, StoredEvent, decide, fits_column
from omnirelay.models import (
    BEHAVIOURAL_SOURCE,
    EventProperties,
    EventStatus,
    EventTraits,
    MessageDecision,
    table_of,
)
from omnirelay.security import Principal

EVENT_PROPERTIES = table_of(EventProperties)
EVENT_TRAITS = table_of(EventTraits)


def parse_event(document: Any) -> EventIn:
    """The event, or a 422 naming each field that is wrong."""
    if not isinstance(document, dict):
        raise InvalidInput([{"field": "body", "reason": "must be a JSON object (one event)"}])
    try:
        return EventIn.model_validate(document)
    except ValidationError as exc:
        raise InvalidInput(
            [
                {
                    "field": ".".join(str(p) for p in e["loc"]) or "body",
                    "reason": "required field is missing" if e["type"] == "missing" else e["msg"],
                }
                for e in exc.errors(include_url=False, include_context=False)
            ]
        ) from None


def dedupe_key(event: EventIn) -> str:
    if event.client_event_id is not None:
        return f"id:{event.client_event_id}"
    content = orjson.dumps(
        [
            event.user_id,
            event.event_type,
            event.event_timestamp.isoformat(),
            event.properties or {},
        ],
        option=orjson.OPT_SORT_KEYS,
    )
    return "sha256:" + hashlib.sha256(content).hexdigest()


def storefront_code(code: str | None, principal: Principal) -> str:
    """The code of the storefront the event is posted for, if the key may post for it."""
    if code is None:
        raise InvalidInput(
            [
                {
                    "field": "storefront_id",
                    "reason": "required field is missing (no MESSAGING_DEFAULT_STOREFRONT is set)",
                }
            ]
        )
    if not principal.may_post_for(code):
        raise Forbidden(f"this key may not post events for storefront {code!r}")
    return code


def unknown_storefront(code: str) -> InvalidInput:
    return InvalidInput([{"field": "storefront_id", "reason": f"unknown storefront {code!r}"}])


def storefront_id_of(session: Session, code: str) -> int:
    storefront_id = repository.storefront_id_of(session, code)
    if storefront_id is None:
        raise unknown_storefront(code)
    return storefront_id


def known_traits(traits: dict[str, Any]) -> dict[str, Any] | None:
    """The row of ``event_traits`` (without its event id): each known trait that has its
    column's kind and fits it."""
    row = {
        name: value if fits_column(name, value) else None
        for name in KNOWN_TRAITS
        for value in (traits.get(name),)
    }
    return row if any(value is not None for value in row.values()) else None


def known_properties(properties: dict[str, Any]) -> dict[str, Any] | None:
    """The row of ``event_properties`` (without its event id): each known property that
    has the column's kind."""

    def text(name: str, length: int) -> str | None:
        value = properties.get(name)
        return value[:length] if isinstance(value, str) else None

    attempt = properties.get("attempt_number")
    amount: Any = properties.get("amount")
    row = {
        "failure_reason": text("failure_reason", 100),
        "attempt_number": attempt if type(attempt) is int and -(2**31) <= attempt < 2**31 else None,
        "amount": float(amount)
        if type(amount) in (int, float) and math.isfinite(amount) and abs(amount) < 1e300
        else None,
        "currency": text("currency", 10),
        "plan": text("plan", 100),
    }
    return None if all(value is None for value in row.values()) else row


def decision_out(record: MessageDecision | Recorded) -> DecisionOut:
    return DecisionOut(
        event_id=record.event_id,
        user_id=record.user_id,
        event_type=record.event_type,
        matched_rule=record.rule,
        action_type=record.action_type,
        template_name=record.template_name,
        channel=record.channel,
        outcome=record.outcome,
        reason=record.reason,
        reason_code=record.reason_code,
    )


def post_event(
    session: Session,
    rules: RuleSet,
    event: EventIn,
    raw: bytes,
    principal: Principal,
    default_storefront: str | None,
    now: datetime,
) -> tuple[DecisionOut, bool]:
    """The decision for the event, and whether it is new (False: a re-post)."""
    code = storefront_code(event.storefront_id or default_storefront, principal)
    # where the event's INSERT finds the storefront itself, one statement fewer
    in_insert = repository.inserts_in_one_statement(session)
    storefront_id = None if in_insert else storefront_id_of(session, code)
    key = dedupe_key(event)
    properties = event.properties or {}
    details = {
        table: row
        for table, row in (
            (EVENT_PROPERTIES, known_properties(properties)),
            (EVENT_TRAITS, known_traits(event.user_traits or {})),
        )
        if row is not None
    }
    inserted = repository.insert_event(
        session,
        {
            "event_id": key,
            "storefront_id": storefront_id,
            "storefront_code": code,
            "event_type": event.event_type,
            "event_payload": raw.decode(),
            "source_system": BEHAVIOURAL_SOURCE,
            "status": EventStatus.PENDING.value,
            "user_id": event.user_id,
            "event_time": event.event_timestamp,
        },
        details,
        storefront_code=code if in_insert else None,
        prior=repository.PriorLookup(
            rules.prior_event_types(event.event_type), event.event_timestamp
        ),
    )
    if inserted is None:
        storefront_id = storefront_id or storefront_id_of(session, code)
        found = repository.stored_event_id(session, storefront_id, event.event_type, key)
        assert found is not None, "the key was taken"
        event_id, source = found
        earlier = repository.decision_of_event(session, event_id)
        if earlier is not None and earlier.user_id != event.user_id:
            # a producer's bug; answering the other user's decision would leak it
            raise Conflict(
                f"client_event_id {event.client_event_id!r} already names an event of "
                "another user; an event id names one event"
            )
        if earlier is None or source != BEHAVIOURAL_SOURCE:
            raise Conflict(
                f"event #{event_id} of storefront {code!r} already has this key "
                f"({key}) and was not posted here"
            )
        return decision_out(earlier), False

    event_id, found_storefront = inserted.id, inserted.storefront_id
    if found_storefront is None:  # stored under no storefront: refused, rolled back
        raise unknown_storefront(code)
    stored = StoredEvent(
        id=event_id,
        storefront_id=found_storefront,
        prior=inserted.prior,
        event=MessagingEvent(
            user_id=event.user_id,
            event_type=event.event_type,
            event_timestamp=event.event_timestamp,
            properties=properties,
            user_traits=event.user_traits or {},
        ),
    )
    record = decide(session, rules, stored, now=now)
    return decision_out(record), True
