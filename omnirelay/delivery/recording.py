"""Writing the outcome of a batch: the requests as sent, the audit rows, the delivery states."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session

from omnirelay.db import bulk_insert, update_in_chunks
from omnirelay.delivery.claim import ClaimedDelivery
from omnirelay.destinations.base import DeliveryOutcome, HttpResult, Outcome, PreparedRequest
from omnirelay.metrics import Metrics
from omnirelay.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryRequest,
    DeliveryStatus,
    table_of,
)
from omnirelay.redaction import Redactor, request_redactor

RESPONSE_LIMIT = 4096  # characters of a response body kept in the audit


@dataclass
class SentRequest:
    destination_code: str
    request: PreparedRequest
    result: HttpResult
    duration_ms: int
    outcomes: list[DeliveryOutcome]
    body: bytes | None  # exactly what went on the wire


@dataclass
class BatchReport:
    sent: list[SentRequest] = field(default_factory=list)
    # deliveries decided without a request: (outcome, error)
    decided: dict[int, tuple[str, str | None]] = field(default_factory=dict)
    released: list[int] = field(default_factory=list)


def redactor_of(request: PreparedRequest) -> Redactor:
    """What masks the secrets of a request in everything recorded about it."""
    return request_redactor(request.url, request.headers, request.secrets)


def storable(text: str | None) -> str | None:
    """``text`` as every database stores it: PostgreSQL's text holds no NUL character, and
    a platform's answer (or an error quoting it) may carry one. Written as ``\\u0000``."""
    return text.replace("\x00", "\\u0000") if text and "\x00" in text else text


def _request_row(sent: SentRequest) -> dict[str, Any]:
    """The request as the audit keeps it. Its headers are not kept: they carry the
    credentials of most platforms, and the audit needs none of them."""
    code, request = sent.destination_code, sent.request
    redactor = redactor_of(request)
    body = sent.body.decode("utf-8", "replace") if sent.body is not None else None
    # scrubbed before it is cut, so no secret is cut in two and half of it kept
    response = redactor.scrub(sent.result.body[: RESPONSE_LIMIT * 2]) or ""
    return {
        "destination_code": code,
        "method": request.method,
        "url": storable(redactor.scrub_url(request.url)),
        "request_body": storable(redactor.scrub(body)),
        "event_count": len(request.delivery_ids),
        "http_status": sent.result.status_code,
        "response_body": storable(response[:RESPONSE_LIMIT]) or None,
        "error": storable(redactor.scrub(sent.result.error)),
        "duration_ms": sent.duration_ms,
    }


class BatchRecord:
    """What a batch's outcome writes, worked out before its transaction (which then only
    runs the statements) and kept grouped: deliveries that share their new values are
    updated by one ``UPDATE ... WHERE id IN (...)`` (a batch of successes is one
    statement), and attempt rows share everything but the delivery's own columns."""

    def __init__(
        self,
        now: datetime,
        next_attempt: Callable[[int, float | None], datetime],
        max_attempts: int,
        holder: str | None = None,
    ) -> None:
        self.now = now
        self.holder = holder  # the lease token: only deliveries it still holds change
        self.next_attempt = next_attempt
        self.max_attempts = max_attempts
        self.requests: list[dict[str, Any]] = []  # delivery_requests rows
        self.changes: dict[tuple[tuple[str, Any], ...], list[int]] = defaultdict(list)
        self.state: dict[int, str] = {}  # delivery id -> its new status
        # attempt rows, each with the index of its request in ``requests`` (or None)
        self.attempts: list[tuple[int | None, dict[str, Any]]] = []
        self.counted: Counter[tuple[str, str]] = Counter()
        self.results: dict[int, Any] = {}  # delivery id -> what its send returned
        self.released = {"claimed_by": None, "lease_expires_at": None, "updated_at": now}

    def change(self, members: list[ClaimedDelivery], values: dict[str, Any]) -> None:
        self.changes[tuple(sorted(values.items()))].extend(d.id for d in members)
        status = values["status"]
        for delivery in members:
            self.state[delivery.id] = status
            self.counted[(delivery.destination_code, status)] += 1

    def settle(
        self,
        members: list[ClaimedDelivery],
        outcome: str,
        error: str | None,
        retry_after: float | None,
        http_status: int | None,
    ) -> None:
        """The new state of deliveries that got the same verdict on an attempt. Those
        that failed together at the same attempt number wait the same (jittered) delay,
        so they go out again together, as one batch."""
        counted = self.released | {
            "count_attempt": True,
            "last_error": error,
            "last_http_status": http_status,
        }
        if outcome == Outcome.DELIVERED:
            self.change(
                members,
                counted
                | {
                    "status": DeliveryStatus.DELIVERED.value,
                    "delivered_at": self.now,
                    "next_attempt_at": self.now,
                },
            )
            return
        # by attempt number within the retry budget (counted since the last replay)
        by_number: dict[int, list[ClaimedDelivery]] = defaultdict(list)
        for delivery in members:
            by_number[delivery.attempt_count + 1 - delivery.attempt_base].append(delivery)
        for number, group in by_number.items():
            if outcome == Outcome.RETRY and number < self.max_attempts:
                values = counted | {
                    "status": DeliveryStatus.PENDING.value,
                    "next_attempt_at": self.next_attempt(number, retry_after),
                }
            else:
                values = counted | {
                    "status": DeliveryStatus.DEAD.value,
                    "next_attempt_at": self.now,
                }
                if outcome == Outcome.RETRY:
                    values["last_error"] = f"gave up after {number} attempts: {error}"
            self.change(group, values)

    def attempted(
        self,
        members: list[ClaimedDelivery],
        status: str,
        error: str | None,
        *,
        counts: bool = True,
        warnings: Mapping[int, list[str]] | None = None,
        request: int | None = None,
        **extra: Any,
    ) -> None:
        """Audit rows: one per delivery, numbered as its attempt (``counts``) or as the
        attempt it did not get (a delivery skipped before sending)."""
        shared = {
            "status": status,
            "error": error,
            "attempted_at": self.now,
            "http_status": extra.get("http_status"),
            "duration_ms": extra.get("duration_ms"),
            "request_id": None,
            "warnings": None,
        }
        offset = 1 if counts else 0
        for delivery in members:
            row = shared | {
                "event_id": delivery.event_id,
                "delivery_id": delivery.id,
                "destination_type": delivery.destination_type,
                "destination_code": delivery.destination_code,
                "attempt_number": delivery.attempt_count + offset,
            }
            if warnings and delivery.id in warnings:
                row["warnings"] = "; ".join(warnings[delivery.id]) or None
            self.attempts.append((request, row))

    def write(self, session: Session) -> None:
        """The transaction: statements only, everything else was worked out before."""
        # New objects each time: a transaction run again after a lost deadlock starts clean.
        requests = [DeliveryRequest(**values) for values in self.requests]
        session.add_all(requests)
        session.flush()  # one multi-row INSERT for every request of the batch
        request_ids = [request.id for request in requests]
        rows = []
        for request, row in self.attempts:
            if request is not None:
                row["request_id"] = request_ids[request]
            rows.append(row)
        bulk_insert(session, table_of(DeliveryAttempt), rows)
        table = table_of(Delivery)
        # Fenced: a delivery another worker claimed meanwhile is not changed (its audit row
        # above still says what this worker sent).
        fence = () if self.holder is None else (table.c.claimed_by == self.holder,)
        if self.results:  # before the claims are released below, while the fence holds
            session.execute(
                update(table)
                .where(table.c.id == bindparam("delivery_id"), *fence)
                .values(result=bindparam("delivery_result")),
                [{"delivery_id": k, "delivery_result": v} for k, v in self.results.items()],
            )
        for key, ids in self.changes.items():
            values: dict[str, Any] = dict(key)
            if values.pop("count_attempt", False):
                values["attempt_count"] = table.c.attempt_count + 1
            update_in_chunks(session, table, ids, values, 1000, *fence)

    def count(self, metrics: Metrics) -> None:
        for (destination, status), count in self.counted.items():
            metrics.deliveries.labels(destination, status).inc(count)


def _same_verdicts(
    outcomes: list[DeliveryOutcome], deliveries: Mapping[int, ClaimedDelivery]
) -> dict[tuple[Outcome, str | None, float | None], list[ClaimedDelivery]]:
    """A request's outcomes grouped by verdict (usually one group: the whole request)."""
    groups: dict[tuple[Outcome, str | None, float | None], list[ClaimedDelivery]] = defaultdict(
        list
    )
    for outcome in outcomes:
        delivery = deliveries.get(outcome.delivery_id)
        if delivery is not None:
            groups[(outcome.outcome, outcome.error, outcome.retry_after)].append(delivery)
    return groups


def plan_record(
    deliveries: dict[int, ClaimedDelivery],
    report: BatchReport,
    now: datetime,
    *,
    next_attempt: Callable[[int, float | None], datetime],
    max_attempts: int,
    holder: str | None = None,
) -> BatchRecord:
    """What to write for a batch."""
    record = BatchRecord(now, next_attempt, max_attempts, holder)
    record.requests = [_request_row(sent) for sent in report.sent]
    for index, sent in enumerate(report.sent):
        redactor = redactor_of(sent.request)
        status_code = sent.result.status_code
        verdicts = _same_verdicts(sent.outcomes, deliveries)
        record.results |= {
            o.delivery_id: o.result
            for o in sent.outcomes
            if o.result is not None and o.outcome == Outcome.DELIVERED
        }
        for (outcome, raw_error, retry_after), members in verdicts.items():
            error = storable(redactor.scrub(raw_error))
            if outcome not in (Outcome.SPLIT, Outcome.RESEND, Outcome.NEXT_STEP):  # decided later
                record.settle(members, outcome, error, retry_after, status_code)
            record.attempted(
                members,
                outcome.value,
                error,
                warnings=sent.request.warnings,
                http_status=status_code,
                duration_ms=sent.duration_ms,
                request=index,
            )

    decided: dict[tuple[str, str | None], list[ClaimedDelivery]] = defaultdict(list)
    for delivery_id, decision in report.decided.items():
        decided[decision].append(deliveries[delivery_id])
    for (verdict, raw), members in decided.items():
        error = storable(raw)
        if verdict == "skipped":
            record.change(
                members,
                record.released
                | {
                    "status": DeliveryStatus.SKIPPED.value,
                    "last_error": error,
                    "next_attempt_at": now,
                },
            )
            record.attempted(members, "skipped", error, counts=False)
        else:
            record.settle(members, verdict, error, None, None)
            record.attempted(members, verdict, error)

    if report.released:
        pending = record.released | {
            "status": DeliveryStatus.PENDING.value,
            "next_attempt_at": now,
        }
        record.changes[tuple(sorted(pending.items()))].extend(report.released)

    return record
