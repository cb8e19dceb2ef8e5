"""Trafficking API bodies and answers; field names are the seed's columns."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    model_validator,
)

from omnirelay.input_types import StoredJson, TextColumn
from omnirelay.models import CampaignStatus, TicketStatus


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


# The seed's rule for codes: upper-cased, letters, digits and underscores.
Code = Annotated[
    str,
    BeforeValidator(_upper),
    StringConstraints(min_length=1, max_length=20, pattern=r"^[A-Z0-9_]+$"),
]
Currency = Annotated[
    str,
    BeforeValidator(_upper),
    StringConstraints(min_length=3, max_length=3, pattern="^[A-Z]{3}$"),
]
Text100 = Annotated[
    TextColumn, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
]
Text255 = Annotated[
    TextColumn, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)
]
Budget = Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=4, allow_inf_nan=False)]
Year = Annotated[StrictInt, Field(ge=1000, le=9999)]
RequestType = Annotated[
    str, BeforeValidator(_upper), StringConstraints(max_length=50, pattern=r"^[A-Z][A-Z0-9_]*$")
]
Reason = Annotated[TextColumn, StringConstraints(max_length=2000)]
ExternalId = Annotated[
    TextColumn, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# ---- markets, brands, channels -----------------------------------------------------------


class MarketCreate(_In):
    code: Code = Field(description="e.g. US; upper-cased")
    country: Text100
    region: Text100 | None = None
    currency: Currency | None = Field(default=None, description="what campaigns here spend")


class MarketUpdate(_In):
    code: Code | None = None
    country: Text100 | None = None
    region: Text100 | None = None
    currency: Currency | None = None


class MarketOut(_Out):
    id: uuid.UUID
    code: str
    country: str
    region: str | None
    currency: str | None
    created_at: datetime
    updated_at: datetime


class BrandCreate(_In):
    name: Text255
    internal_code: Code = Field(description="the taxonomy's BrandCode, e.g. DIS")


class BrandUpdate(_In):
    name: Text255 | None = None
    internal_code: Code | None = None


class BrandOut(_Out):
    id: uuid.UUID
    name: str
    internal_code: str
    created_at: datetime
    updated_at: datetime


class ChannelCreate(_In):
    platform_name: Code = Field(description="the taxonomy's ChannelPlatform, e.g. META")
    api_identifier: Text100 = Field(description="e.g. meta_marketing_api")


class ChannelUpdate(_In):
    platform_name: Code | None = None
    api_identifier: Text100 | None = None


class ChannelOut(_Out):
    id: uuid.UUID
    platform_name: str
    api_identifier: str
    created_at: datetime
    updated_at: datetime


# ---- campaigns ---------------------------------------------------------------------------


class CampaignDraftFields(_In):
    campaign_name: Text255 = Field(description="free text; the name keeps its letters and digits")
    brand_id: uuid.UUID
    market_id: uuid.UUID
    channel_id: uuid.UUID | None = Field(
        default=None, description="omitted: the campaign spans channels (MULTI)"
    )
    year: Year | None = Field(default=None, description="default: the current UTC year")


class CampaignCreate(CampaignDraftFields):
    budget: Budget
    currency: Currency | None = Field(default=None, description="default: the market's")
    status: CampaignStatus = CampaignStatus.DRAFT


class CampaignUpdate(_In):
    budget: Budget | None = None
    status: CampaignStatus | None = None

    @model_validator(mode="before")
    @classmethod
    def _name_is_immutable(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for field in ("name", "campaign_name"):
                if field in data:
                    raise ValueError(
                        f"{field} cannot change: the taxonomy name is generated once; "
                        "only budget and status can be updated"
                    )
        return data


class CampaignOut(_Out):
    id: uuid.UUID
    name: str = Field(description="the taxonomy name, generated and immutable")
    campaign_name: str
    brand_id: uuid.UUID
    market_id: uuid.UUID
    channel_id: uuid.UUID | None
    budget: Decimal
    currency: str
    year: int
    status: CampaignStatus
    taxonomy_version: str
    created_at: datetime
    updated_at: datetime


class PerformanceRow(BaseModel):
    day: date
    event_type: str
    currency: str | None
    conversions: int
    revenue: float


class PerformanceOut(BaseModel):
    campaign_id: uuid.UUID
    utm_campaign: list[str] = Field(
        description="the names matched (the campaign's and its tickets')"
    )
    case_sensitive: bool
    rows: list[PerformanceRow]
    conversions: int
    revenue: dict[str, float] = Field(description="by currency ('' when the events name none)")


# ---- tickets -----------------------------------------------------------------------------


class TicketCreate(_In):
    campaign_id: uuid.UUID
    channel_id: uuid.UUID
    request_type: RequestType = "CREATE_CAMPAIGN"
    payload_config: dict[str, StoredJson] = Field(default_factory=dict)
    start_date: date | None = None
    end_date: date | None = None
    status: Literal["DRAFT", "QA_TESTING"] = Field(
        default="DRAFT", description="QA_TESTING runs QA at once"
    )
    reason: Reason | None = None


class TicketUpdate(_In):
    status: TicketStatus | None = None
    reason: Reason | None = Field(default=None, description="why: kept in the history")
    request_type: RequestType | None = None
    payload_config: dict[str, StoredJson] | None = None
    start_date: date | None = None
    end_date: date | None = None
    external_platform_id: ExternalId | None = Field(
        default=None, description="only with status TRAFFICKED_SUCCESS (trafficked by hand)"
    )
    qa_failure_reason: Reason | None = Field(default=None, description="only with status FAILED")


class TicketOut(_Out):
    id: uuid.UUID
    campaign_id: uuid.UUID
    channel_id: uuid.UUID
    request_type: str
    payload_config: dict[str, Any]
    start_date: date | None
    end_date: date | None
    status: TicketStatus
    deployed_name: str = Field(description="the campaign's taxonomy name with this channel")
    external_platform_id: str | None
    qa_failure_reason: str | None = Field(description="every QA problem, one a line")
    deploy_task_id: str | None
    allowed_next: list[TicketStatus]
    created_at: datetime
    updated_at: datetime


class HistoryOut(_Out):
    id: int
    ticket_id: uuid.UUID
    from_status: TicketStatus | None
    to_status: TicketStatus
    changed_by: str
    changed_at: datetime
    reason: str | None


# ---- taxonomy ----------------------------------------------------------------------------

NameText = Annotated[str, StringConstraints(max_length=1000)]


class ViolationOut(BaseModel):
    field: str
    reason: str


class ParseIn(_In):
    name: NameText


class ParseOut(BaseModel):
    name: str
    valid: bool
    version: str
    fields: dict[str, str] | None
    violations: list[ViolationOut]


class ValidateIn(_In):
    names: list[NameText] = Field(max_length=100_000)


class NameResult(BaseModel):
    index: int
    name: str
    violations: list[ViolationOut]


class ValidateOut(BaseModel):
    version: str
    checked: int
    valid: int
    invalid: int
    results: list[NameResult] = Field(description="the names that break the taxonomy")


class PreviewOut(BaseModel):
    name: str
    fields: dict[str, str]
    version: str
    taken: bool = Field(description="a campaign already holds this name")


# ---- credentials -------------------------------------------------------------------------

Secret = Annotated[str, StringConstraints(min_length=1, max_length=4000)]
SecretName = Annotated[
    str, StringConstraints(min_length=1, max_length=100, pattern=r"^[a-z][a-z0-9_]*$")
]
Url = Annotated[TextColumn, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class _CredentialFields(_In):
    account_id: Text100 | None = Field(default=None, description="ad account / advertiser id")
    access_token: Secret | None = Field(default=None, description="write-only")
    base_url: Url | None = Field(default=None, description="another API host (the sandbox)")
    api_version: Annotated[str, StringConstraints(max_length=20)] | None = None
    secrets: dict[SecretName, Secret] | None = Field(
        default=None, description="further write-only values (app secret, refresh token, ...)"
    )
    is_active: bool | None = None


class CredentialCreate(_CredentialFields):
    brand_id: uuid.UUID
    market_id: uuid.UUID | None = Field(default=None, description="omitted: every market")
    platform: Code = Field(description="a channel's platform_name, e.g. META")
    account_id: Text100
    access_token: Secret
    is_active: bool = True


class CredentialUpdate(_CredentialFields):
    pass


class CredentialOut(BaseModel):
    id: uuid.UUID
    brand_id: uuid.UUID
    market_id: uuid.UUID | None
    platform: str
    account_id: str
    access_token: str = Field(description="always masked")
    base_url: str | None
    api_version: str | None
    secrets: dict[str, str] = Field(description="values always masked")
    is_active: bool
    created_at: datetime
    updated_at: datetime
