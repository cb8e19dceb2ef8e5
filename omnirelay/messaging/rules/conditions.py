"""Conditions as plain predicates: built once from the validated tree, tested per event.

Every test answers whether it held and a detail that names the field, the operator, the
rule's value and the value it saw, so a decision can say which condition failed and why.
No operator raises: a value of another kind than the rule's (a string where the rule
compares with a number), a missing field or a null is a non-match with that reason.
A field that is missing or null satisfies only ``not_exists``. Every comparison needs
the two sides to be of one kind, ``not_equals`` and ``not_in`` too (a number is neither
equal nor unequal to a string); write ``not: {field, operator: equals, ...}`` for "anything
but". Date-times: the ordering operators and ``between`` read an ISO 8601 string on either
side as an instant, and so does every operator on ``event_timestamp``; elsewhere a quoted
string is compared as a string, an unquoted YAML date-time as an instant.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

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


class Verdict:
    """Whether a condition held, and (rendered when first asked for) the detail that says
    why: the field, the operator, the rule's value and the value seen. Most details are
    never read (a clause that held in a rule that failed later), so none is built ahead."""

    __slots__ = ("_detail", "_predicate", "extra", "held", "seen")

    def __init__(self, held: bool, predicate: Predicate, seen: Any = None, extra: Any = None):
        self.held = held
        self._predicate = predicate
        self.seen = seen
        self.extra = extra
        self._detail: str | None = None

    @property
    def detail(self) -> str:
        if self._detail is None:
            self._detail = self._predicate.describe(self)
        return self._detail

    def __repr__(self) -> str:
        return f"Verdict({self.held}, {self.detail!r})"


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

    def resolve(self, root: str, path: Sequence[str]) -> Any:
        """The value at ``root`` then ``path``, or ``_MISSING`` (absent, null, or inside a
        value that has no fields). A number in the path indexes a list."""
        value = self.roots[root]
        for part in path:
            if isinstance(value, dict):
                value = value.get(part)
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                return _MISSING
            if value is None:
                return _MISSING
        return _MISSING if value is None else value

    def latest(self, event_type: str) -> datetime | None:
        if event_type not in self.lookups:
            self.lookups[event_type] = self._prior.latest(self.user_id, event_type, self.timestamp)
        return self.lookups[event_type]


class Predicate(ABC):
    __slots__ = ()

    @abstractmethod
    def test(self, ctx: EvaluationContext) -> Verdict: ...

    @abstractmethod
    def describe(self, verdict: Verdict) -> str: ...


# --- rendering --------------------------------------------------------------------------


def show(value: Any) -> str:
    """A value as the rules file would write it."""
    kind = type(value)
    if kind is str:
        return _quoted(value)
    if kind is int or kind is float:
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return "[" + ", ".join(show(item) for item in value) + "]"
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(value)


_quoted = json.encoder.encode_basestring


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

# An operator answers True, False, or why the two values cannot be compared. It gets the
# value seen, the rule's value and the rule's value's kind (worked out once, at load).
Test = Callable[[Any, Any, str], "bool | str"]


def _incomparable(seen: Any, operand_kind: str) -> str:
    return f"a {kind_of(seen)} is not comparable with a {operand_kind}"


def _as_kind(seen: Any, kind: str) -> Any:
    """``seen`` as a value of ``kind``, or ``_MISSING`` when it is not one (an ISO string
    counts as a date-time when the rule compares with one)."""
    if kind == "date-time":
        if isinstance(seen, str | datetime):
            parsed = parse_datetime(seen)
            return _MISSING if parsed is None else parsed
        return _MISSING
    return seen if kind_of(seen) == kind else _MISSING


def _equals(seen: Any, operand: Any, kind: str) -> bool | str:
    value = _as_kind(seen, kind)
    if value is _MISSING:
        return _incomparable(seen, kind)
    return bool(value == operand)


def _not_equals(seen: Any, operand: Any, kind: str) -> bool | str:
    result = _equals(seen, operand, kind)
    return result if isinstance(result, str) else not result


def _in(seen: Any, by_kind: dict[str, frozenset[Any]], kinds: str) -> bool | str:
    values = by_kind.get(kind_of(seen))
    if values is not None:
        return seen in values
    if "date-time" in by_kind and isinstance(seen, str):
        parsed = parse_datetime(seen)
        if parsed is not None:
            return parsed in by_kind["date-time"]
    return _incomparable(seen, kinds)


def _not_in(seen: Any, by_kind: dict[str, frozenset[Any]], kinds: str) -> bool | str:
    result = _in(seen, by_kind, kinds)
    return result if isinstance(result, str) else not result


def _ordering(compare: Callable[[Any, Any], bool]) -> Test:
    def test(seen: Any, operand: Any, kind: str) -> bool | str:
        value = _as_kind(seen, kind)
        if value is _MISSING:
            return _incomparable(seen, kind)
        return compare(value, operand)

    return test


def _between(seen: Any, operand: tuple[Any, Any], kind: str) -> bool | str:
    value = _as_kind(seen, kind)
    if value is _MISSING:
        return _incomparable(seen, kind)
    return bool(operand[0] <= value <= operand[1])


def _contains(seen: Any, operand: Any, kind: str) -> bool | str:
    if isinstance(seen, str):
        if kind != "string":
            return f"a string contains strings, not a {kind}"
        return operand in seen
    if isinstance(seen, list):
        return any(kind_of(item) == kind and item == operand for item in seen)
    return f"contains looks inside a string or a list, not a {kind_of(seen)}"


def _affix(check: Callable[[str, str], bool], name: str) -> Test:
    def test(seen: Any, operand: Any, kind: str) -> bool | str:
        if not isinstance(seen, str):
            return f"{name} tests a string, not a {kind_of(seen)}"
        return check(seen, operand)

    return test


def _matches(seen: Any, pattern: Any, kind: str) -> bool | str:
    if not isinstance(seen, str):
        return f"matches tests a string, not a {kind_of(seen)}"
    return pattern.search(seen) is not None


def _exists(seen: Any, operand: Any, kind: str) -> bool | str:
    return True  # reached only for a value that is there


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
    "exists": _exists,
    "not_exists": _exists,
}


class ClausePredicate(Predicate):
    __slots__ = ("_kind", "_operand", "_path", "_root", "_test", "field", "label", "operator")

    def __init__(self, clause: Clause) -> None:
        self.field = clause.field
        self.operator = clause.operator
        self._root, *path = clause.field.split(".")
        self._path = tuple(path)
        operand = clause.value
        self.label = (
            f"{clause.field} {clause.operator}"
            if clause.operator in ("exists", "not_exists")
            else f"{clause.field} {clause.operator} {show(operand)}"
        )
        self._test = _TESTS[clause.operator]
        if clause.operator == "matches":
            self._operand, self._kind = compile_pattern(operand), "string"
        elif clause.operator in ("in", "not_in"):
            by_kind: dict[str, set[Any]] = {}
            for item in operand:
                by_kind.setdefault(kind_of(item), set()).add(item)
            self._operand = {kind: frozenset(items) for kind, items in by_kind.items()}
            self._kind = " or ".join(sorted(by_kind))
        elif clause.operator == "between":
            self._operand, self._kind = operand, kind_of(operand[0])
        else:
            self._operand, self._kind = operand, kind_of(operand)

    def test(self, ctx: EvaluationContext) -> Verdict:
        seen = ctx.resolve(self._root, self._path)
        if seen is _MISSING:
            return Verdict(self.operator == "not_exists", self, seen)
        if self.operator == "not_exists":
            return Verdict(False, self, seen)
        result = self._test(seen, self._operand, self._kind)
        if result is True or result is False:
            return Verdict(result, self, seen)
        return Verdict(False, self, seen, result)

    def describe(self, verdict: Verdict) -> str:
        if verdict.seen is _MISSING:
            return f"{self.label} (missing)"
        if verdict.extra is not None:
            return f"{self.label} (saw {show(verdict.seen)}: {verdict.extra})"
        return f"{self.label} (saw {show(verdict.seen)})"


# --- trees and prior events -------------------------------------------------------------


class AllPredicate(Predicate):
    __slots__ = ("children",)

    def __init__(self, children: Sequence[Predicate]) -> None:
        self.children = tuple(children)

    def test(self, ctx: EvaluationContext) -> Verdict:
        held = []
        for child in self.children:
            verdict = child.test(ctx)
            if not verdict.held:
                return verdict  # the first failure is the whole story
            held.append(verdict)
        if len(held) == 1:
            return held[0]
        return Verdict(True, self, extra=held)

    def describe(self, verdict: Verdict) -> str:
        if not verdict.extra:
            return "no conditions"
        return "all of: " + "; ".join(child.detail for child in verdict.extra)


class AnyPredicate(Predicate):
    __slots__ = ("children",)

    def __init__(self, children: Sequence[Predicate]) -> None:
        self.children = tuple(children)

    def test(self, ctx: EvaluationContext) -> Verdict:
        failed = []
        for child in self.children:
            verdict = child.test(ctx)
            if verdict.held:
                return verdict
            failed.append(verdict)
        if len(failed) == 1:
            return failed[0]
        return Verdict(False, self, extra=failed)

    def describe(self, verdict: Verdict) -> str:
        return "none of: " + "; ".join(child.detail for child in verdict.extra)


class NotPredicate(Predicate):
    __slots__ = ("child",)

    def __init__(self, child: Predicate) -> None:
        self.child = child

    def test(self, ctx: EvaluationContext) -> Verdict:
        inner = self.child.test(ctx)
        return Verdict(not inner.held, self, extra=inner)

    def describe(self, verdict: Verdict) -> str:
        return f"not [{verdict.extra.detail}]"


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
            return Verdict(self.negate, self)
        age = ctx.timestamp - latest
        within = timedelta(0) <= age <= self.window
        return Verdict(within != self.negate, self, latest, age)

    def describe(self, verdict: Verdict) -> str:
        if verdict.seen is None:
            return f"{self.label} (no prior {self.event_type})"
        return (
            f"{self.label} (latest at {verdict.seen.isoformat()}, "
            f"{show_duration(verdict.extra)} before)"
        )


class AlwaysPredicate(Predicate):
    __slots__ = ()

    def test(self, ctx: EvaluationContext) -> Verdict:
        return Verdict(True, self)

    def describe(self, verdict: Verdict) -> str:
        return "no conditions"


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
