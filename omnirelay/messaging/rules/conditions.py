"""Conditions as plain predicates: built once from the validated tree, tested per event.

Every test answers whether it held and a detail that names the field, the operator, the
rule's value and the value it saw, so a decision can say which condition failed and why.
No operator raises: a value of another kind than the rule's (a string where the rule
compares with a number), a missing field or a null is a non-match with that reason.
A field that is missing or null satisfies only ``not_exists``. Every comparison needs
the two sides to be of one kind, ``not_equals`` and ``not_in`` too (a number is neither
equal nor unequal to a string); write ``not: {field, operator: equals, ...}`` for "anything
but".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from omnirelay.messaging.rules.prior import PriorEvents
from omnirelay.messaging.rules.schema import (
    AllOf,
    AnyOf,
    Clause,
    NotOf,
    PriorEventCondition,
    compile_pattern,
    kind_of,
    parse_datetime,
)

_MISSING: Any = object()


class Verdict(NamedTuple):
    held: bool
    detail: str


class EvaluationContext:
    """One event as the conditions see it, and the prior-event lookups made for it (each
    type looked up once, and remembered for the explanation)."""

    __slots__ = ("_prior", "lookups", "roots", "timestamp", "user_id")

    def __init__(
        self,
        *,
        user_id: str,
        event_type: str,
        timestamp: datetime,
        properties: dict[str, Any],
        user_traits: dict[str, Any],
        prior: PriorEvents,
    ) -> None:
        self.user_id = user_id
        self.timestamp = timestamp
        self.roots: dict[str, Any] = {
            "properties": properties,
            "user_traits": user_traits,
            "event_type": event_type,
            "event_timestamp": timestamp,
            "user_id": user_id,
        }
        self._prior = prior
        self.lookups: dict[str, datetime | None] = {}

    def resolve(self, path: Sequence[str]) -> Any:
        """The value at a field path, or ``_MISSING`` (absent, null, or inside a value that
        has no fields). A number in the path indexes a list."""
        value = self.roots[path[0]]
        for part in path[1:]:
            if isinstance(value, dict):
                value = value.get(part, _MISSING)
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                return _MISSING
            if value is _MISSING:
                return _MISSING
        return _MISSING if value is None else value

    def latest(self, event_type: str) -> datetime | None:
        if event_type not in self.lookups:
            self.lookups[event_type] = self._prior.latest(self.user_id, event_type, self.timestamp)
        return self.lookups[event_type]


class Predicate:
    __slots__ = ()

    def test(self, ctx: EvaluationContext) -> Verdict:
        raise NotImplementedError


# --- rendering --------------------------------------------------------------------------


def show(value: Any) -> str:
    """A value as the rules file would write it."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return "[" + ", ".join(show(item) for item in value) + "]"
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(value)


def show_duration(delta: timedelta) -> str:
    """``24h``, ``23h59m59s``, ``24h0m0.000001s``, ``7d``: days from two days on, zero
    units at either end left out."""
    sign = "-" if delta < timedelta(0) else ""
    microseconds = abs(delta) // timedelta(microseconds=1)
    seconds, micro = divmod(microseconds, 1_000_000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24) if hours >= 48 else (0, hours)
    second_text = f"{seconds}.{micro:06d}".rstrip("0") if micro else str(seconds)
    units = [(days, str(days), "d"), (hours, str(hours), "h"), (minutes, str(minutes), "m")]
    units.append((seconds or micro, second_text, "s"))
    while len(units) > 1 and not units[0][0]:
        units.pop(0)
    while len(units) > 1 and not units[-1][0]:
        units.pop()
    return sign + "".join(text + unit for _, text, unit in units)


# --- clauses ----------------------------------------------------------------------------

# An operator answers True, False, or why the two values cannot be compared.
Test = Callable[[Any, Any], "bool | str"]


def _incomparable(seen: Any, operand_kind: str) -> str:
    return f"a {kind_of(seen)} is not comparable with a {operand_kind}"


def _same_kind(seen: Any, operand: Any) -> Any:
    """``seen`` as a value of the operand's kind, or ``_MISSING`` when it is not one (an ISO
    string counts as a date-time when the rule compares with one)."""
    if isinstance(operand, datetime):
        return parse_datetime(seen) if isinstance(seen, str | datetime) else _MISSING
    return seen if kind_of(seen) == kind_of(operand) else _MISSING


def _equals(seen: Any, operand: Any) -> bool | str:
    value = _same_kind(seen, operand)
    if value is _MISSING or value is None:
        return _incomparable(seen, kind_of(operand))
    return bool(value == operand)


def _not_equals(seen: Any, operand: Any) -> bool | str:
    result = _equals(seen, operand)
    return result if isinstance(result, str) else not result


def _in(seen: Any, operand: tuple[Any, ...]) -> bool | str:
    comparable = False
    for item in operand:
        value = _same_kind(seen, item)
        if value is _MISSING or value is None:
            continue
        comparable = True
        if value == item:
            return True
    if not comparable:
        kinds = sorted({kind_of(item) for item in operand})
        return _incomparable(seen, " or ".join(kinds))
    return False


def _not_in(seen: Any, operand: tuple[Any, ...]) -> bool | str:
    result = _in(seen, operand)
    return result if isinstance(result, str) else not result


def _ordering(compare: Callable[[Any, Any], bool]) -> Test:
    def test(seen: Any, operand: Any) -> bool | str:
        value = _same_kind(seen, operand)
        if value is _MISSING or value is None:
            return _incomparable(seen, kind_of(operand))
        return compare(value, operand)

    return test


def _between(seen: Any, operand: tuple[Any, Any]) -> bool | str:
    low, high = operand
    value = _same_kind(seen, low)
    if value is _MISSING or value is None:
        return _incomparable(seen, kind_of(low))
    return bool(low <= value <= high)


def _contains(seen: Any, operand: Any) -> bool | str:
    if isinstance(seen, str):
        if not isinstance(operand, str):
            return f"a string contains strings, not a {kind_of(operand)}"
        return operand in seen
    if isinstance(seen, list):
        return any(kind_of(item) == kind_of(operand) and item == operand for item in seen)
    return f"contains looks inside a string or a list, not a {kind_of(seen)}"


def _affix(check: Callable[[str, str], bool], name: str) -> Test:
    def test(seen: Any, operand: Any) -> bool | str:
        if not isinstance(seen, str):
            return f"{name} tests a string, not a {kind_of(seen)}"
        return check(seen, operand)

    return test


def _matches(seen: Any, pattern: Any) -> bool | str:
    if not isinstance(seen, str):
        return f"matches tests a string, not a {kind_of(seen)}"
    return pattern.search(seen) is not None


_TESTS: dict[str, Test] = {
    "equals": _equals,
    "not_equals": _not_equals,
    "in": _in,
    "not_in": _not_in,
    "gt": _ordering(lambda a, b: a > b),
    "gte": _ordering(lambda a, b: a >= b),
    "lt": _ordering(lambda a, b: a < b),
    "lte": _ordering(lambda a, b: a <= b),
    "between": _between,
    "contains": _contains,
    "starts_with": _affix(str.startswith, "starts_with"),
    "ends_with": _affix(str.endswith, "ends_with"),
    "matches": _matches,
}


class ClausePredicate(Predicate):
    __slots__ = ("_operand", "_path", "_test", "field", "label", "operator")

    def __init__(self, clause: Clause) -> None:
        self.field = clause.field
        self.operator = clause.operator
        self._path = tuple(clause.field.split("."))
        operand = clause.value
        self.label = (
            f"{clause.field} {clause.operator}"
            if clause.operator in ("exists", "not_exists")
            else f"{clause.field} {clause.operator} {show(operand)}"
        )
        self._operand = compile_pattern(operand) if clause.operator == "matches" else operand
        self._test = _TESTS.get(clause.operator)

    def test(self, ctx: EvaluationContext) -> Verdict:
        seen = ctx.resolve(self._path)
        if self.operator == "exists":
            return Verdict(seen is not _MISSING, f"{self.label} ({_seen(seen)})")
        if self.operator == "not_exists":
            return Verdict(seen is _MISSING, f"{self.label} ({_seen(seen)})")
        if seen is _MISSING:
            return Verdict(False, f"{self.label} (missing)")
        assert self._test is not None
        result = self._test(seen, self._operand)
        if isinstance(result, str):
            return Verdict(False, f"{self.label} (saw {show(seen)}: {result})")
        return Verdict(result, f"{self.label} (saw {show(seen)})")


def _seen(value: Any) -> str:
    return "missing" if value is _MISSING else f"saw {show(value)}"


# --- trees and prior events -------------------------------------------------------------


class AllPredicate(Predicate):
    __slots__ = ("children",)

    def __init__(self, children: Sequence[Predicate]) -> None:
        self.children = tuple(children)

    def test(self, ctx: EvaluationContext) -> Verdict:
        details = []
        for child in self.children:
            verdict = child.test(ctx)
            if not verdict.held:
                return verdict
            details.append(verdict.detail)
        if len(details) == 1:
            return Verdict(True, details[0])
        return Verdict(True, "all of: " + "; ".join(details) if details else "no conditions")


class AnyPredicate(Predicate):
    __slots__ = ("children",)

    def __init__(self, children: Sequence[Predicate]) -> None:
        self.children = tuple(children)

    def test(self, ctx: EvaluationContext) -> Verdict:
        failures = []
        for child in self.children:
            verdict = child.test(ctx)
            if verdict.held:
                return verdict
            failures.append(verdict.detail)
        if len(failures) == 1:
            return Verdict(False, failures[0])
        return Verdict(False, "none of: " + "; ".join(failures))


class NotPredicate(Predicate):
    __slots__ = ("child",)

    def __init__(self, child: Predicate) -> None:
        self.child = child

    def test(self, ctx: EvaluationContext) -> Verdict:
        verdict = self.child.test(ctx)
        return Verdict(not verdict.held, f"not [{verdict.detail}]")


class PriorEventPredicate(Predicate):
    """The user's latest ``event_type`` before this event is (not) at most ``window``
    before it; exactly ``window`` before is within."""

    __slots__ = ("event_type", "label", "negate", "window")

    def __init__(self, event_type: str, window: timedelta, negate: bool) -> None:
        self.event_type = event_type
        self.window = window
        self.negate = negate
        relation = "not within" if negate else "within"
        self.label = f"prior {event_type} {relation} {show_duration(window)}"

    def test(self, ctx: EvaluationContext) -> Verdict:
        latest = ctx.latest(self.event_type)
        if latest is None:
            return Verdict(self.negate, f"{self.label} (no prior {self.event_type})")
        age = ctx.timestamp - latest
        within = timedelta(0) <= age <= self.window
        return Verdict(
            within != self.negate,
            f"{self.label} (latest at {latest.isoformat()}, {show_duration(age)} before)",
        )


class AlwaysPredicate(Predicate):
    __slots__ = ()

    def test(self, ctx: EvaluationContext) -> Verdict:
        return Verdict(True, "no conditions")


ALWAYS = AlwaysPredicate()


def compile_condition(node: Any) -> Predicate:
    """The predicate of a validated condition tree (None: no conditions, always holds)."""
    if node is None:
        return ALWAYS
    if isinstance(node, Clause):
        return ClausePredicate(node)
    if isinstance(node, AllOf):
        return AllPredicate([compile_condition(child) for child in node.all])
    if isinstance(node, AnyOf):
        return AnyPredicate([compile_condition(child) for child in node.any])
    if isinstance(node, NotOf):
        return NotPredicate(compile_condition(node.not_))
    if isinstance(node, PriorEventCondition):
        spec = node.prior_event
        window = spec.within if spec.within is not None else spec.not_within
        assert window is not None
        return PriorEventPredicate(spec.event_type, window, negate=spec.within is None)
    raise TypeError(f"not a condition: {node!r}")


def prior_event_types(node: Any) -> frozenset[str]:
    """Every event type a condition tree may look up as a prior event."""
    if isinstance(node, PriorEventCondition):
        return frozenset({node.prior_event.event_type})
    if isinstance(node, AllOf | AnyOf):
        children = node.all if isinstance(node, AllOf) else node.any
        return frozenset().union(*(prior_event_types(child) for child in children))
    if isinstance(node, NotOf):
        return prior_event_types(node.not_)
    return frozenset()
