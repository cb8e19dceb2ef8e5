"""The taxonomy engine: the seed's rules for generated names, the configurable spec, names
parsed back, bulk validation listing every violation."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from omnirelay.errors import ConfigurationError
from omnirelay.trafficking.taxonomy import Taxonomy, TaxonomyError, load_spec, parse_spec

DEFAULT = Taxonomy(load_spec(Path("config/taxonomy.yaml")))


def generate(**overrides: object) -> str:
    values: dict[str, object] = {
        "brand_code": "DIS",
        "market_code": "US",
        "channel_platform": "META",
        "campaign_name": "MoanaLaunch",
        "year": 2026,
    } | overrides
    return DEFAULT.generate(**values).name  # type: ignore[arg-type]


# ---- the seed's cases --------------------------------------------------------------------


def test_basic_name_generation() -> None:
    assert generate() == "DIS_US_META_2026_MoanaLaunch"


def test_current_year_by_default() -> None:
    year = datetime.now(UTC).year
    assert generate(year=None) == f"DIS_US_META_{year}_MoanaLaunch"


def test_spaces_are_removed_from_the_campaign_name() -> None:
    assert generate(campaign_name="Moana Launch") == "DIS_US_META_2026_MoanaLaunch"


def test_special_characters_are_removed() -> None:
    assert (
        generate(campaign_name="Moana: Launch! (2026) #1 — é")
        == "DIS_US_META_2026_MoanaLaunch20261"
    )


def test_codes_are_upper_cased() -> None:
    assert generate(brand_code=" dis ", market_code="us", channel_platform="meta") == (
        "DIS_US_META_2026_MoanaLaunch"
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("brand_code", "DI-S"),
        ("market_code", "U S"),
        ("channel_platform", "ME.TA"),
        ("brand_code", ""),
    ],
)
def test_invalid_codes_are_rejected(field: str, value: str) -> None:
    with pytest.raises(TaxonomyError) as error:
        generate(**{field: value})
    assert [v.field for v in error.value.violations] == [field]


@pytest.mark.parametrize("text", ["", "   ", "!!! ---", "é"])
def test_empty_campaign_names_are_rejected(text: str) -> None:
    with pytest.raises(TaxonomyError) as error:
        generate(campaign_name=text)
    assert error.value.violations[0].field == "campaign_name"


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(TaxonomyError) as error:
        generate(brand_code="a-b", market_code="", campaign_name="--", year=99)
    assert {v.field for v in error.value.violations} == {
        "brand_code",
        "market_code",
        "campaign_name",
        "year",
    }


def test_no_channel_means_multi() -> None:
    assert generate(channel_platform=None) == "DIS_US_MULTI_2026_MoanaLaunch"


def test_codes_may_hold_underscores() -> None:
    assert generate(brand_code="dis_plus") == "DIS_PLUS_US_META_2026_MoanaLaunch"


def test_generated_names_follow_the_pattern() -> None:
    assert DEFAULT.violations(generate()) == []
    assert DEFAULT.violations("DIS_US_META_2026") != []


# ---- parse, validate ---------------------------------------------------------------------


def test_parse_gives_the_fields_back() -> None:
    assert DEFAULT.parse("DIS_US_META_2026_MoanaLaunch") == {
        "brand_code": "DIS",
        "market_code": "US",
        "channel_platform": "META",
        "year": "2026",
        "campaign_name": "MoanaLaunch",
    }
    assert DEFAULT.parse("DIS_PLUS_US_META_2026_X")["brand_code"] == "DIS_PLUS"  # type: ignore[index]
    assert DEFAULT.parse("dis_US_META_2026_X") is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("dis_us_META_2026_Moana", {"brand_code", "market_code"}),
        ("DIS_US_META_26_Moana", {"year"}),
        ("DIS_US_META_2026_Mo-ana", {"campaign_name"}),
        ("DIS_US_META_2026_", {"campaign_name"}),
        ("acme_co_us_meta_2026_moana", {"brand_code", "market_code", "channel_platform"}),
        ("ACME_CO_US_META_20X6_Moana", {"year"}),
        ("DIS_US_2026_Moana", {"name"}),
        ("", {"name"}),
        ("X" * 300, {"name"}),
    ],
)
def test_violations_name_each_broken_field(name: str, expected: set[str]) -> None:
    found = DEFAULT.violations(name)
    assert {v.field for v in found} == expected
    assert all(v.reason for v in found)


def test_bulk_validation_lists_only_the_invalid_names_with_every_violation() -> None:
    names = ["DIS_US_META_2026_A", "dis_us_META_2026_B", "DIS_US_META_2026_C", "bad"]
    invalid = DEFAULT.validate_many(names)
    assert [index for index, _ in invalid] == [1, 3]
    assert [v.field for v in invalid[0][1]] == ["brand_code", "market_code"]


# ---- the spec ----------------------------------------------------------------------------

CUSTOM = """
version: "2027.2"
delimiter: "-"
case_sensitive: false
fields:
  - {name: market_code, values: [US, GB, DE]}
  - {name: brand_code}
  - {name: year, regex: "20[0-9]{2}"}
  - {name: campaign_name}
"""


def test_a_configured_spec_sets_fields_order_delimiter_and_rules() -> None:
    taxonomy = Taxonomy(parse_spec(CUSTOM))
    name = taxonomy.generate(
        brand_code="dis", market_code="gb", channel_platform="META", campaign_name="Sale", year=2027
    )
    assert (name.name, name.version) == ("GB-DIS-2027-Sale", "2027.2")
    assert taxonomy.parse("gb-dis-2027-sale") == {
        "market_code": "gb",
        "brand_code": "dis",
        "year": "2027",
        "campaign_name": "sale",
    }
    assert [v.field for v in taxonomy.violations("FR-DIS-1999-Sale")] == ["market_code", "year"]
    assert "one of US, GB, DE" in taxonomy.violations("FR-DIS-2027-Sale")[0].reason
    assert taxonomy.key("GB-DIS-2027-Sale") == taxonomy.key("gb-dis-2027-SALE")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: '1'\nfields: [{name: brand_code}]", "campaign_name"),
        ("version: '1'\nfields: [{name: campaign_name}, {name: campaign_name}]", "more than once"),
        ("version: '1'\nfields: [{name: campaign_name, regex: '('}]", "does not compile"),
        ("version: '1'\nfields: [{name: campaign_name, regex: 'a', values: [a]}]", "not both"),
        ("version: '1'\nfields: [{name: colour}]", "fields.0.name"),
        ("fields: [{name: campaign_name}]", "version"),
        ("{", "not YAML"),
    ],
)
def test_a_spec_that_cannot_work_is_refused_naming_the_problem(text: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as error:
        parse_spec(text)
    assert message in str(error.value.detail)


def test_a_missing_spec_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        load_spec(tmp_path / "nope.yaml")
