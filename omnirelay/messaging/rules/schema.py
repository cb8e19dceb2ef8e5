"""The rules file as Pydantic models: what `config/rules.yaml` may say, checked when it loads.

The file is the seed's format, unchanged: a list of rules, each with ``name``,
``description``, ``enabled``, ``trigger.event_type``, ``conditions``, ``action``
(``type: send`` with ``template_name`` and ``delivery_method``) and ``suppression.mode``
(``none``, ``once_ever``, ``once_per_calendar_day``). Everything beyond the seed is
additive, so a seed file loads as it is:

- the file may be a mapping ``{settings: ..., rules: [...]}`` instead of a bare list, the
  settings holding the default time zone, global quiet hours and the marketing cap;
- ``action.type: none`` (stop evaluating, send nothing), ``delivery_method`` ``push`` and
  ``alert``, ``action.category`` (``marketing``, ``transactional``; an alert is always
  ``operational``);
- ``suppression.mode: max`` with ``count`` and ``window`` (at most N per rolling window);
- per-rule ``quiet_hours`` (``{start, end}``, or ``false`` for none);
- ``trigger.event_type`` as a list of event types;
- conditions as a tree: ``all`` / ``any`` / ``not`` over clauses and ``prior_event``
  checks; a bare list of conditions means ``all``.

Conditions are a recursive tree of models, tagged by the key a node carries, so an error
is reported for the node the author meant, at its path. Values are checked against the
operator here (a regex compiles, ``between`` has two ordered ends, ...), so evaluation
never meets a malformed rule.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import re2
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from omnirelay.models.messaging import RULE_NAME_LENGTH, TEMPLATE_NAME_LENGTH

FIELD_ROOTS = ("properties", "user_traits", "event_type", "event_timestamp", "user_id")
OPERATORS = (
    "equals",
    "not_equals",
    "in",
    "not_in",
    "gt",
    "gte",
    "lt",
    "lte",
    "between",
    "contains",
    "starts_with",
    "ends_with",
    "exists",
    "not_exists",
    "matches",
)
VALUELESS_OPERATORS = frozenset({"exists", "not_exists"})
ORDERING_OPERATORS = frozenset({"gt", "gte", "lt", "lte"})
DELIVERY_METHODS = ("email", "sms", "push", "alert")
# Long patterns are where expensive ones hide; 512 characters is plenty for a field check.
MAX_PATTERN_LENGTH = 512
# RE2 matches in time linear in the input (no backtracking, so no pattern can hang); its
# memory for one compiled pattern is bounded too.
_RE2_MAX_MEM = 1 << 20

_STRICT = ConfigDict(extra="forbid", frozen=True)
_ABSENT: Any = object()


# --- small value types -------------------------------------------------------------------

_DURATION = re.compile(r"(\d+)(w|d|h|m|s)")
_DURATION_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(value: Any) -> timedelta:
    """``"24h"``, ``"7d"``, ``"90m"``, ``"1d12h"``, ``"30s"`` → a positive timedelta."""
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError(f"write a duration like '24h', '7d' or '90m', not {value!r}")
    text = value.strip()
    pieces = _DURATION.findall(text)
    if not text or "".join(n + u for n, u in pieces) != text:
        raise ValueError(f"write a duration like '24h', '7d' or '90m', not {value!r}")
    seconds = sum(int(n) * _DURATION_UNITS[u] for n, u in pieces)
    if seconds <= 0:
        raise ValueError(f"a duration must be longer than zero, not {value!r}")
    return timedelta(seconds=seconds)


def _parse_clock_time(value: Any) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{2}:\d{2}", value.strip()):
        hours, minutes = (int(part) for part in value.strip().split(":"))
        if hours < 24 and minutes < 60:
            return time(hours, minutes)
    raise ValueError(f"write a time of day as 'HH:MM' (24-hour clock), not {value!r}")


def _check_zone(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"write an IANA time zone like 'Europe/Berlin', not {value!r}")
    if load_zone(value) is None:
        raise ValueError(f"unknown time zone {value!r} (an IANA name like 'America/New_York')")
    return value


@functools.lru_cache(maxsize=512)
def load_zone(name: str) -> ZoneInfo | None:
    """The zone of that IANA name, or None when there is no such zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        return None


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
ClockTime = Annotated[time, BeforeValidator(_parse_clock_time)]
ZoneName = Annotated[str, BeforeValidator(_check_zone)]


def parse_datetime(value: Any) -> datetime | None:
    """An aware datetime from a datetime or an ISO 8601 string; None when it is neither.
    A value without a zone offset is read as UTC (time is UTC unless said otherwise)."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


@functools.lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> Any:
    """The RE2 program of a pattern; ValueError names what is wrong with it."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ValueError(
            f"the pattern is {len(pattern)} characters long; at most {MAX_PATTERN_LENGTH}"
        )
    options = re2.Options()
    options.log_errors = False
    options.max_mem = _RE2_MAX_MEM
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        detail = exc.args[0] if exc.args else exc
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        raise ValueError(
            f"the pattern {pattern!r} is not accepted: {detail} (RE2 syntax: no "
            "backreferences or lookaround, which is what keeps matching linear in time)"
        ) from None


# --- conditions ----------------------------------------------------------------------------


_KIND_OF_TYPE: dict[type, str] = {
    type(None): "null",
    bool: "boolean",
    int: "number",
    float: "number",
    str: "string",
    datetime: "date-time",
    list: "list",
    tuple: "list",
    dict: "object",
}


def kind_of(value: Any) -> str:
    """The name of a value's kind as rules talk about it (bool is not a number)."""
    kind = _KIND_OF_TYPE.get(type(value))
    if kind is not None:
        return kind
    # Subclasses (an enum of str, a pendulum datetime): the first type they are.
    for base, name in _KIND_OF_TYPE.items():
        if isinstance(value, base):
            return name
    return type(value).__name__


_SCALAR_KINDS = frozenset({"string", "number", "boolean", "date-time"})


def _scalar(value: Any, operator: str, timestamp_field: bool) -> Any:
    """A single comparable value (a string becomes a datetime for ``event_timestamp``)."""
    kind = kind_of(value)
    if kind not in _SCALAR_KINDS:
        raise ValueError(
            f"{operator} compares with a string, number, boolean or date-time, not a {kind}"
        )
    if timestamp_field or kind == "date-time":
        return _datetime_operand(value, operator)
    return value


def _datetime_operand(value: Any, operator: str) -> datetime:
    parsed = parse_datetime(value)
    if parsed is None:
        raise ValueError(f"{operator} on a date-time needs an ISO 8601 date-time, not {value!r}")
    if isinstance(value, datetime) and value.tzinfo is None:
        raise ValueError(
            f"the date-time {value.isoformat()} needs a zone offset (Z or +01:00); "
            "quote it to have it read as UTC"
        )
    return parsed


def _ordered(value: Any, operator: str, timestamp_field: bool) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool) and not timestamp_field:
        return value
    if isinstance(value, datetime) or (isinstance(value, str) and parse_datetime(value)):
        return _datetime_operand(value, operator)
    shown = repr(value) if isinstance(value, str) else f"a {kind_of(value)}"
    raise ValueError(f"{operator} compares with a number or an ISO 8601 date-time, not {shown}")


class Clause(BaseModel):
    """``{field: properties.x, operator: equals, value: ...}``: one test of one field."""

    model_config = _STRICT

    field: str
    operator: str
    # ``validate_default`` so the check below also runs when no value is given.
    value: Any = Field(default=_ABSENT, validate_default=True)

    @field_validator("field")
    @classmethod
    def _known_root(cls, field: str) -> str:
        parts = field.split(".")
        if any(not part for part in parts):
            raise ValueError(f"{field!r} is not a field path (like properties.payment.amount)")
        if parts[0] not in FIELD_ROOTS:
            raise ValueError(
                f"unknown field {field!r}: a path starts with one of {', '.join(FIELD_ROOTS)}"
            )
        if parts[0] in ("event_type", "event_timestamp", "user_id") and len(parts) > 1:
            raise ValueError(f"{parts[0]} has no fields inside it ({field!r})")
        if parts[0] in ("properties", "user_traits") and len(parts) == 1:
            raise ValueError(f"name a field inside {parts[0]} (like {parts[0]}.country)")
        return field

    @field_validator("operator")
    @classmethod
    def _known_operator(cls, operator: str) -> str:
        if operator not in OPERATORS:
            raise ValueError(f"unknown operator {operator!r} (known: {', '.join(OPERATORS)})")
        return operator

    @field_validator("value")
    @classmethod
    def _value_fits_operator(cls, value: Any, info: ValidationInfo) -> Any:
        operator = info.data.get("operator")
        field = info.data.get("field")
        if operator is None or field is None:
            return value  # reported on its own
        timestamp_field = field == "event_timestamp"
        if operator in VALUELESS_OPERATORS:
            if value is not _ABSENT:
                raise ValueError(f"{operator} takes no value")
            return None
        if value is _ABSENT:
            raise ValueError(f"{operator} needs a value")
        if value is None:
            raise ValueError(f"{operator} cannot compare with null: use exists or not_exists")
        if operator in ("equals", "not_equals"):
            return _scalar(value, operator, timestamp_field)
        if operator in ("in", "not_in"):
            if not isinstance(value, list) or not value:
                raise ValueError(f"{operator} needs a non-empty list of values")
            return tuple(_scalar(item, operator, timestamp_field) for item in value)
        if operator in ORDERING_OPERATORS:
            return _ordered(value, operator, timestamp_field)
        if operator == "between":
            if not isinstance(value, list) or len(value) != 2:
                raise ValueError("between needs [low, high]")
            low, high = (_ordered(item, operator, timestamp_field) for item in value)
            if kind_of(low) != kind_of(high):
                raise ValueError(f"between needs two of a kind, not {value!r}")
            if low > high:
                raise ValueError(f"between needs low <= high, not {value!r}")
            return (low, high)
        if operator == "contains":
            if kind_of(value) not in ("string", "number", "boolean"):
                raise ValueError(f"contains looks for a string, number or boolean, not {value!r}")
            return value
        if operator in ("starts_with", "ends_with"):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{operator} needs a non-empty string")
            return value
        # matches
        if not isinstance(value, str) or not value:
            raise ValueError("matches needs a regular expression (a non-empty string)")
        compile_pattern(value)
        return value


class PriorEvent(BaseModel):
    """Is the user's latest event of ``event_type`` before this one (not) within a window?
    Only the most recent such event counts (seed 003)."""

    model_config = _STRICT

    event_type: str = Field(min_length=1)
    within: Duration | None = None
    not_within: Duration | None = None

    @model_validator(mode="after")
    def _one_window(self) -> PriorEvent:
        if (self.within is None) == (self.not_within is None):
            raise ValueError("give exactly one of within or not_within (like within: 24h)")
        return self


class PriorEventCondition(BaseModel):
    """``{prior_event: {event_type: signup_completed, within: 24h}}``."""

    model_config = _STRICT

    prior_event: PriorEvent


class AllOf(BaseModel):
    """``{all: [...]}``: every condition holds (an empty list holds)."""

    model_config = _STRICT

    all: list[Condition]


class AnyOf(BaseModel):
    """``{any: [...]}``: at least one condition holds."""

    model_config = _STRICT

    any: list[Condition] = Field(min_length=1)


class NotOf(BaseModel):
    """``{not: condition}``: the condition does not hold."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    not_: Condition = Field(alias="not")


_NODE_KEYS = {"all": "all-of", "any": "any-of", "not": "not-of", "prior_event": "prior-event"}
_TAG_OF_MODEL = {
    "AllOf": "all-of",
    "AnyOf": "any-of",
    "NotOf": "not-of",
    "PriorEventCondition": "prior-event",
    "Clause": "clause",
}
# The tags show up in validation error paths; the loader leaves them out.
CONDITION_TAGS = frozenset(_TAG_OF_MODEL.values())


def _condition_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        for key, tag in _NODE_KEYS.items():
            if key in value:
                return tag
        if "field" in value or "operator" in value:
            return "clause"
        return None
    return _TAG_OF_MODEL.get(type(value).__name__)


Condition = Annotated[
    Annotated[AllOf, Tag("all-of")]
    | Annotated[AnyOf, Tag("any-of")]
    | Annotated[NotOf, Tag("not-of")]
    | Annotated[PriorEventCondition, Tag("prior-event")]
    | Annotated[Clause, Tag("clause")],
    Discriminator(
        _condition_tag,
        custom_error_type="condition",
        custom_error_message=(
            "a condition is {all: [...]}, {any: [...]}, {not: ...}, {prior_event: ...} "
            "or a clause {field, operator, value}"
        ),
    ),
]

for _model in (AllOf, AnyOf, NotOf):
    _model.model_rebuild()


# --- the rest of a rule --------------------------------------------------------------------


class Trigger(BaseModel):
    model_config = _STRICT

    event_type: tuple[str, ...]

    @field_validator("event_type", mode="before")
    @classmethod
    def _one_or_several(cls, value: Any) -> Any:
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not values:
            raise ValueError("name an event type, or a list of them")
        if not all(isinstance(item, str) and item for item in values):
            raise ValueError(f"event types are non-empty strings, not {value!r}")
        return tuple(values)


Category = Literal["marketing", "transactional", "operational"]


class Action(BaseModel):
    """``type: send`` a template by a delivery method, or ``type: none``: stop here and send
    nothing. Sends by email, SMS or push are ``marketing`` unless marked ``transactional``
    (no opt-in needed, not counted by the marketing cap); an alert goes to the CX team and
    is ``operational``: never opt-in gated, capped or held for quiet hours."""

    model_config = _STRICT

    type: Literal["send", "none"]
    template_name: str | None = Field(default=None, min_length=1, max_length=TEMPLATE_NAME_LENGTH)
    delivery_method: str | None = None
    category: Category | None = None

    @field_validator("delivery_method")
    @classmethod
    def _known_method(cls, method: str | None) -> str | None:
        if method is not None and method not in DELIVERY_METHODS:
            raise ValueError(
                f"unknown delivery_method {method!r} (known: {', '.join(DELIVERY_METHODS)})"
            )
        return method

    @model_validator(mode="before")
    @classmethod
    def _default_category(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("type") == "send" and "category" not in data:
            method = data.get("delivery_method")
            return {**data, "category": "operational" if method == "alert" else "marketing"}
        return data

    @model_validator(mode="after")
    def _fits_type(self) -> Action:
        if self.type == "none":
            given = [
                name
                for name in ("template_name", "delivery_method", "category")
                if getattr(self, name) is not None
            ]
            if given:
                raise ValueError(f"type none sends nothing: remove {', '.join(given)}")
            return self
        missing = [n for n in ("template_name", "delivery_method") if not getattr(self, n)]
        if missing:
            raise ValueError(f"type send needs {' and '.join(missing)}")
        if self.delivery_method == "alert" and self.category != "operational":
            raise ValueError(f"an alert is operational, not {self.category}")
        if self.delivery_method != "alert" and self.category == "operational":
            raise ValueError("operational is the alert's category; use marketing or transactional")
        return self


class Suppression(BaseModel):
    """``none``, ``once_ever``, ``once_per_calendar_day`` (the UTC date of the event's own
    timestamp), or ``max``: at most ``count`` sends of this rule per user per rolling
    ``window``."""

    model_config = _STRICT

    mode: Literal["none", "once_ever", "once_per_calendar_day", "max"] = "none"
    count: int | None = Field(default=None, ge=1)
    window: Duration | None = None

    @model_validator(mode="after")
    def _fits_mode(self) -> Suppression:
        if self.mode == "max":
            if self.count is None or self.window is None:
                raise ValueError("mode max needs count and window (like count: 2, window: 24h)")
        elif self.count is not None or self.window is not None:
            raise ValueError(f"count and window belong to mode max, not {self.mode}")
        return self


class QuietHours(BaseModel):
    """``{start: "21:00", end: "08:00"}`` in the user's time zone; a start later than the
    end spans midnight."""

    model_config = _STRICT

    start: ClockTime
    end: ClockTime

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("start and end are the same time: the quiet period would be empty")
        return self


def _quiet_hours_tag(value: Any) -> str | None:
    if value is False:
        return "quiet-off"
    if isinstance(value, dict | QuietHours):
        return "quiet-hours"
    return None


# A rule's own quiet hours, or ``false`` for none; absent (None), the settings' apply.
RuleQuietHours = Annotated[
    Annotated[QuietHours, Tag("quiet-hours")] | Annotated[Literal[False], Tag("quiet-off")],
    Discriminator(
        _quiet_hours_tag,
        custom_error_type="quiet_hours",
        custom_error_message="quiet hours are {start: 'HH:MM', end: 'HH:MM'}, or false for none",
    ),
]
QUIET_HOURS_TAGS = frozenset({"quiet-hours", "quiet-off"})


class RateCap(BaseModel):
    """At most ``count`` per ``window``."""

    model_config = _STRICT

    count: int = Field(ge=1)
    window: Duration


class RulesSettings(BaseModel):
    """The file's ``settings`` block: what applies across rules."""

    model_config = _STRICT

    # The zone of a user whose traits name none (or an unknown one).
    default_timezone: ZoneName = "UTC"
    # Held for every marketing and transactional send unless a rule says otherwise.
    quiet_hours: QuietHours | None = None
    # Marketing sends per user across every rule.
    marketing_cap: RateCap | None = None


class Rule(BaseModel):
    model_config = _STRICT

    name: str = Field(min_length=1, max_length=RULE_NAME_LENGTH)
    description: str = ""
    enabled: bool = True
    trigger: Trigger
    conditions: Condition | None = None
    action: Action
    suppression: Suppression = Suppression()
    quiet_hours: RuleQuietHours | None = None

    @field_validator("name")
    @classmethod
    def _no_outer_spaces(cls, name: str) -> str:
        if name != name.strip():
            raise ValueError(f"the name {name!r} starts or ends with spaces")
        return name

    @field_validator("conditions", mode="before")
    @classmethod
    def _list_means_all(cls, value: Any) -> Any:
        if isinstance(value, list):
            return {"all": value}
        if value == {}:
            return None
        return value
