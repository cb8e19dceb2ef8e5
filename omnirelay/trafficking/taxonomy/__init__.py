"""The naming taxonomy: ``[BrandCode]_[MarketCode]_[ChannelPlatform]_[Year]_[CampaignName]``
by default, its pattern, delimiter and field rules configured in a versioned spec."""

from omnirelay.trafficking.taxonomy.engine import (
    GeneratedName,
    Taxonomy,
    TaxonomyError,
    Violation,
)
from omnirelay.trafficking.taxonomy.spec import (
    FIELD_NAMES,
    MAX_NAME_LENGTH,
    FieldSpec,
    TaxonomySpec,
    load_spec,
    parse_spec,
)

__all__ = [
    "FIELD_NAMES",
    "MAX_NAME_LENGTH",
    "FieldSpec",
    "GeneratedName",
    "Taxonomy",
    "TaxonomyError",
    "TaxonomySpec",
    "Violation",
    "load_spec",
    "parse_spec",
]
