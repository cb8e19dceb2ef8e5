"""Reading a rules file: YAML in, a RuleSet out, or every problem in it at once.

A problem names the rule (by name, and by its position in the file), the field (a path
like ``conditions.all[1].operator``) and what is wrong. The YAML is read with the YAML 1.2
core types, not PyYAML's 1.1 ones, so ``21:00`` stays a time (1.1 makes it the integer 1260),
``NO`` stays a country code (1.1 makes it false) and ``012`` is twelve; a key given twice in
one mapping is an error rather than the last one silently winning.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from omnirelay.messaging.rules.ruleset import RuleSet
from omnirelay.messaging.rules.schema import CONDITION_TAGS, QUIET_HOURS_TAGS, Rule, RulesSettings

TEMPLATE_SUFFIX = ".j2"


@dataclass(frozen=True, slots=True)
class Problem:
    where: str  # "rule #2 'welcome_email'", "settings" or "file"
    field: str  # "conditions.all[0].operator"; "" for the whole of ``where``
    message: str

    def __str__(self) -> str:
        return (
            f"{self.where}: {self.field}: {self.message}"
            if self.field
            else (f"{self.where}: {self.message}")
        )


class RulesFileError(Exception):
    """A rules file that does not load, with every problem found in it."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(str(self))

    def __str__(self) -> str:
        count = len(self.problems)
        listed = "\n".join(f"  {problem}" for problem in self.problems)
        return f"{self.source}: {count} problem{'s' if count != 1 else ''}\n{listed}"


def template_names(directory: str | Path) -> frozenset[str]:
    """The templates a directory holds: ``NAME.j2`` (or ``NAME.anything.j2``, like
    ``WELCOME_EMAIL.subject.j2``) is the template NAME."""
    return frozenset(
        path.name.split(".", 1)[0]
        for path in Path(directory).glob(f"*{TEMPLATE_SUFFIX}")
        if path.is_file()
    )


def load_rules(path: str | Path, templates: Collection[str]) -> RuleSet:
    """The rule set of a file; ``templates``: the template names an action may use."""
    path = Path(path)
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise RulesFileError(str(path), [Problem("file", "", exc.strerror or str(exc))]) from None
    return load_rules_text(content, templates, source=str(path))


def load_rules_text(
    content: str | bytes, templates: Collection[str], *, source: str = "<rules>"
) -> RuleSet:
    data = content.encode() if isinstance(content, str) else content
    version = hashlib.sha256(data).hexdigest()
    problems: list[Problem] = []
    try:
        document = yaml.load(data, Loader=_RulesLoader)  # a SafeLoader
    except yaml.YAMLError as exc:
        raise RulesFileError(source, [Problem("file", "", _yaml_message(exc))]) from None

    raw_settings, raw_rules = _split(document, problems)
    settings = RulesSettings()
    if raw_settings is not None:
        parsed = _validate(RulesSettings, raw_settings, "settings", problems)
        settings = parsed if isinstance(parsed, RulesSettings) else settings

    rules: list[Rule] = []
    first_position: dict[str, int] = {}
    known = frozenset(templates)
    for position, raw in enumerate(raw_rules, start=1):
        name = raw.get("name") if isinstance(raw, dict) else None
        where = f"rule #{position} {name!r}" if isinstance(name, str) else f"rule #{position}"
        if not isinstance(raw, dict):
            problems.append(Problem(where, "", "a rule is a mapping: name, trigger, action, ..."))
            continue
        rule = _validate(Rule, raw, where, problems)
        # Read from the raw rule, so it is reported when other fields are wrong too.
        action = raw.get("action")
        template = action.get("template_name") if isinstance(action, dict) else None
        if isinstance(template, str) and template not in known:
            problems.append(
                Problem(where, "action.template_name", _unknown_template(template, known))
            )
        if not isinstance(rule, Rule):
            continue
        if rule.name in first_position:
            problems.append(
                Problem(where, "name", f"rule #{first_position[rule.name]} has the same name")
            )
        first_position.setdefault(rule.name, position)
        rules.append(rule)
    if problems:
        raise RulesFileError(source, problems)
    return RuleSet(rules, settings, version=version, source=source, templates=known)


def _split(document: Any, problems: list[Problem]) -> tuple[Any, list[Any]]:
    """The settings and the rules of a document: a bare list of rules (the seed's form)
    or ``{settings: ..., rules: [...]}``."""
    if isinstance(document, list):
        return None, document
    if isinstance(document, dict):
        unknown = sorted(str(key) for key in document if key not in ("settings", "rules"))
        if unknown:
            problems.append(
                Problem("file", ", ".join(unknown), "unknown top-level key (settings, rules)")
            )
        rules = document.get("rules")
        if not isinstance(rules, list):
            problems.append(Problem("file", "rules", "needs a list of rules"))
            rules = []
        return document.get("settings"), rules
    problems.append(
        Problem("file", "", "a rules file is a list of rules, or a mapping with settings and rules")
    )
    return None, []


def _validate(
    model: type[BaseModel], raw: Any, where: str, problems: list[Problem]
) -> BaseModel | None:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        for error in exc.errors():
            problems.append(Problem(where, _path(error["loc"]), _message(error)))
        return None


_SKIPPED_LOC_PARTS = CONDITION_TAGS | QUIET_HOURS_TAGS


def _path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part not in _SKIPPED_LOC_PARTS:
            text += f".{part}" if text else str(part)
    return text


def _message(error: Any) -> str:
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if error["type"] == "extra_forbidden":
        return "unknown field"
    if error["type"] == "missing":
        return "required"
    return message


def _unknown_template(name: str, known: frozenset[str]) -> str:
    if not known:
        return f"unknown template {name!r} (no templates are known)"
    listed = sorted(known)
    shown = ", ".join(listed[:12]) + (", ..." if len(listed) > 12 else "")
    return f"unknown template {name!r} (known: {shown})"


def _yaml_message(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is not None:
        return f"not valid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return f"not valid YAML: {problem}"


# --- YAML 1.2 core types -----------------------------------------------------------------

_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"


class _RulesLoader(yaml.SafeLoader):
    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"the key {key!r} is given twice",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_RulesLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_BOOL, _INT, _FLOAT)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_RulesLoader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_RulesLoader.add_implicit_resolver(_INT, re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789"))
_RulesLoader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)
_RulesLoader.add_constructor(_INT, lambda loader, node: int(loader.construct_scalar(node)))
