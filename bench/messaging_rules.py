"""Rule evaluation: µs per event for 20 rules on one event type, each with clauses, an
any/not subtree and prior-event checks, prior events from the in-memory fake. Most events
go through most of the rules before one matches (or none does), which is the costly case.

Run alone: ``python -m bench.messaging_rules``; BENCH_SCALE scales the number of events.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from omnirelay.messaging.rules import (
    InMemoryPriorEvents,
    MessagingEvent,
    RuleSet,
    evaluate,
    load_rules_text,
)

RULES = 20
USERS = 1_000
PRIOR_TYPES = ("signup_completed", "login", "purchase", "payment_failed")
START = datetime(2024, 1, 15, tzinfo=UTC)


def rules_text() -> str:
    rules = []
    for i in range(RULES):
        prior_a = PRIOR_TYPES[i % len(PRIOR_TYPES)]
        prior_b = PRIOR_TYPES[(i + 1) % len(PRIOR_TYPES)]
        rules.append(
            f"""\
  - name: rule_{i:02d}
    trigger: {{event_type: payment_failed}}
    conditions:
      all:
        - {{field: properties.amount, operator: between, value: [{i * 5}, {i * 5 + 400}]}}
        - {{field: user_traits.country, operator: in, value: [US, CA, GB, DE, FR]}}
        - any:
            - {{field: properties.failure_reason, operator: equals, value: REASON_{i % 7}}}
            - {{field: properties.card.brand, operator: matches, value: "^(visa|amex)$"}}
        - not: {{field: user_traits.email, operator: ends_with, value: "@test.example.com"}}
        - prior_event: {{event_type: {prior_a}, within: {24 + i}h}}
        - prior_event: {{event_type: {prior_b}, not_within: {i + 1}h}}
    action: {{type: send, template_name: T{i}, delivery_method: email}}
    suppression: {{mode: once_per_calendar_day}}
"""
        )
    return "settings:\n  marketing_cap: {count: 3, window: 24h}\nrules:\n" + "".join(rules)


def workload(
    count: int, seed: int = 7
) -> tuple[RuleSet, InMemoryPriorEvents, list[MessagingEvent]]:
    rng = random.Random(seed)
    rules = load_rules_text(rules_text(), {f"T{i}" for i in range(RULES)}, source="bench")
    prior = InMemoryPriorEvents()
    for user in range(USERS):
        for event_type in PRIOR_TYPES:
            for _ in range(rng.randint(0, 3)):
                prior.add(f"u{user}", event_type, START - timedelta(minutes=rng.randint(1, 4000)))
    events = [
        MessagingEvent(
            user_id=f"u{rng.randrange(USERS)}",
            event_type="payment_failed",
            event_timestamp=START + timedelta(seconds=rng.randint(0, 3600)),
            properties={
                "amount": round(rng.uniform(0, 500), 2),
                "failure_reason": f"REASON_{rng.randrange(7)}",
                "card": {"brand": rng.choice(["visa", "mastercard", "amex", "discover"])},
            },
            user_traits={
                "country": rng.choice(["US", "CA", "GB", "DE", "FR", "NO", "JP"]),
                "email": f"user{rng.randrange(10_000)}@example.com",
                "marketing_opt_in": rng.random() < 0.8,
            },
        )
        for _ in range(count)
    ]
    return rules, prior, events


@dataclass
class Result:
    us_per_event: float  # the median run
    runs_us: list[float]
    rules_per_event: float
    matched_share: float


def measure(count: int, runs: int = 3) -> Result:
    """The median of ``runs`` passes over ``count`` events (a shared machine varies)."""
    rules, prior, events = workload(count)
    for event in events[:200]:  # warm up
        evaluate(rules, event, prior)
    timings = []
    checked = matched = 0
    for _ in range(runs):
        checked = matched = 0
        started = time.perf_counter()
        for event in events:
            decision = evaluate(rules, event, prior)
            checked += len(decision.checks)
            matched += decision.rule is not None
        timings.append((time.perf_counter() - started) / len(events) * 1e6)
    return Result(statistics.median(timings), timings, checked / len(events), matched / len(events))


def main() -> None:
    scale = float(os.environ.get("BENCH_SCALE", "1"))
    count = max(1_000, int(10_000 * scale))
    result = measure(count)
    runs = ", ".join(f"{us:.0f}" for us in result.runs_us)
    print(
        f"Messaging rules: {result.us_per_event:.1f} µs per event (runs: {runs}; {RULES} rules, "
        f"{result.rules_per_event:.1f} evaluated per event on average, "
        f"{result.matched_share:.0%} matched; {count} events, in-memory prior events)"
    )


if __name__ == "__main__":
    main()
