"""The taxonomy spec: the pattern's fields in order, the delimiter, and what each field may
hold (a regular expression or a list of allowed values), under a version.

The default is ``config/taxonomy.yaml`` (``TAXONOMY_SPEC_PATH``); a spec that cannot work
is refused when it loads, with every problem named.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from omnirelay.errors import ConfigurationError

FieldName = Literal["brand_code", "market_code", "channel_platform", "year", "campaign_name"]
FIELD_NAMES: tuple[FieldName, ...] = (
    "brand_code",
    "market_code",
    "channel_platform",
    "year",
    "campaign_name",
)
# What a field holds when its spec gives neither a regex nor values: the seed's rules.
DEFAULT_REGEX: dict[str, str] = {
    "brand_code": "[A-Z0-9_]+",
    "market_code": "[A-Z0-9_]+",
    "channel_platform": "[A-Z0-9_]+",
    "year": "[0-9]{4}",
    "campaign_name": "[A-Za-z0-9]+",
}
MAX_NAME_LENGTH = 255  # campaigns.name
PROJECT_ROOT = Path(__file__).resolve().parents[3]

Value = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class FieldSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: FieldName
    regex: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = None
    values: list[Value] | None = Field(default=None, min_length=1, max_length=10_000)
    description: str | None = None

    @model_validator(mode="after")
    def _one_rule(self) -> FieldSpec:
        if self.regex is not None and self.values is not None:
            raise ValueError("give a regex or a list of values, not both")
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"regex does not compile: {exc}") from None
        return self

    def pattern(self) -> str:
        """The field as a regular expression (its values as alternatives, longest first)."""
        if self.values is not None:
            return "|".join(re.escape(v) for v in sorted(set(self.values), key=len, reverse=True))
        return self.regex or DEFAULT_REGEX[self.name]


class TaxonomySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Annotated[str, StringConstraints(min_length=1, max_length=50)]
    delimiter: Annotated[str, StringConstraints(min_length=1, max_length=5)] = "_"
    case_sensitive: bool = True
    multi_channel: Annotated[str, StringConstraints(min_length=1, max_length=20)] = "MULTI"
    fields: list[FieldSpec] = Field(min_length=1, max_length=len(FIELD_NAMES))

    @model_validator(mode="after")
    def _pattern(self) -> TaxonomySpec:
        names = [f.name for f in self.fields]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"fields given more than once: {', '.join(repeated)}")
        if "campaign_name" not in names:
            raise ValueError("the pattern must hold campaign_name")
        return self

    def field(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)


def _problems(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'spec'}: {e['msg']}"
        for e in exc.errors(include_url=False)
    )


def parse_spec(text: str, source: str = "taxonomy spec") -> TaxonomySpec:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{source} is not YAML: {exc}") from None
    try:
        return TaxonomySpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigurationError(f"{source}: {_problems(exc)}") from None


def load_spec(path: Path) -> TaxonomySpec:
    """The spec at ``path``; a relative path is looked for in the working directory, then
    in the project's own tree (where the default is)."""
    candidates = [path] if path.is_absolute() else [path, PROJECT_ROOT / path]
    for candidate in candidates:
        if candidate.is_file():
            return parse_spec(candidate.read_text(encoding="utf-8"), str(candidate))
    raise ConfigurationError(f"TAXONOMY_SPEC_PATH {str(path)!r}: no such file")
