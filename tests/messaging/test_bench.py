"""The rule-evaluation benchmark's workload is what it says it is."""

from __future__ import annotations

from bench.messaging_rules import RULES, measure, workload


def test_the_benchmark_evaluates_twenty_rules_with_prior_event_checks() -> None:
    rules, _, events = workload(50)
    assert len(rules.rules) == RULES
    assert len(rules.prior_event_types("payment_failed")) >= 3
    result = measure(300, runs=1)
    assert result.us_per_event > 0
    assert result.rules_per_event > RULES / 4  # most events pass through many rules
    assert 0 < result.matched_share < 1
    assert len(events) == 50
