"""A loaded rules file: its rules in order, compiled, and the file's version."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from omnirelay.messaging.rules.conditions import Predicate, compile_condition, prior_event_types
from omnirelay.messaging.rules.schema import Rule, RulesSettings


@dataclass(frozen=True, slots=True)
class CompiledRule:
    index: int  # 1-based position in the file
    rule: Rule
    condition: Predicate
    prior_event_types: frozenset[str]


class RuleSet:
    """The rules of one file, top-down, with the settings that apply across them.

    ``version`` is the SHA-256 of the file's bytes: a decision records it, so it can be
    told which rules made it. Nothing here is global; load another file, get another set.
    """

    def __init__(
        self,
        rules: Sequence[Rule],
        settings: RulesSettings,
        *,
        version: str,
        source: str = "<rules>",
        templates: frozenset[str] = frozenset(),
    ) -> None:
        self.rules = tuple(rules)
        self.settings = settings
        self.version = version
        self.source = source
        self.templates = templates
        self.compiled = tuple(
            CompiledRule(
                index=position,
                rule=rule,
                condition=compile_condition(rule.conditions),
                prior_event_types=prior_event_types(rule.conditions),
            )
            for position, rule in enumerate(self.rules, start=1)
        )
        by_type: dict[str, list[CompiledRule]] = {}
        for compiled in self.compiled:
            for event_type in compiled.rule.trigger.event_type:
                by_type.setdefault(event_type, []).append(compiled)
        self._by_event_type = {key: tuple(value) for key, value in by_type.items()}

    def __repr__(self) -> str:
        return f"RuleSet({self.source!r}, {len(self.rules)} rules, version {self.version[:12]})"

    @property
    def event_types(self) -> frozenset[str]:
        """Every event type some rule is triggered by."""
        return frozenset(self._by_event_type)

    def triggered_by(self, event_type: str) -> tuple[CompiledRule, ...]:
        """The rules an event of this type is evaluated against, in file order (disabled
        ones too: the explanation says they were skipped)."""
        return self._by_event_type.get(event_type, ())

    def prior_event_types(self, event_type: str | None = None) -> frozenset[str]:
        """The event types whose latest prior event the enabled rules triggered by
        ``event_type`` (by any type, when None) may look up: what a caller prefetches for
        the user in one query before evaluating."""
        rules = self.compiled if event_type is None else self.triggered_by(event_type)
        return frozenset().union(*(c.prior_event_types for c in rules if c.rule.enabled))

    def summary(self) -> str:
        enabled = sum(1 for rule in self.rules if rule.enabled)
        return (
            f"{self.source}: {len(self.rules)} rules ({enabled} enabled) for "
            f"{len(self.event_types)} event types, version sha256:{self.version}"
        )
