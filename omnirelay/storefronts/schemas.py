"""Admin API bodies and answers. Field names follow the seed's column names."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from omnirelay.input_types import (
    DB_INT_MAX,
    DB_INT_MIN,
    HeaderMap,
    StoredJson,
    StrictDbInt,
    TextColumn,
    check_headers,
)

Code = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=50, pattern=r"^[A-Za-z0-9_.\-]+$"
    ),
]
Name = Annotated[TextColumn, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
EventType = Annotated[
    str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=50)
]
URL_MAX_LENGTH = 500  # sgtm_url and docs_url are VARCHAR(500)


def _fits_column(url: AnyHttpUrl) -> AnyHttpUrl:
    # Checked on the normalised form, which is what gets stored.
    if len(str(url)) > URL_MAX_LENGTH:
        raise ValueError(f"URL should have at most {URL_MAX_LENGTH} characters")
    return url


HttpUrl500 = Annotated[AnyHttpUrl, AfterValidator(_fits_column)]


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- storefronts -------------------------------------------------------------------------


class StorefrontCreate(_Strict):
    storefront_id: Code = Field(description="the storefront's code, e.g. 'bosley'")
    name: Name
    is_active: bool = True


class StorefrontUpdate(_Strict):
    storefront_id: Code | None = None
    name: Name | None = None
    is_active: bool | None = None


class StorefrontOut(_Out):
    id: int
    storefront_id: str
    name: str
    is_active: bool
    created_at: datetime
    updated_at: datetime


# ---- sGTM configs ------------------------------------------------------------------------

_CODE = TypeAdapter(Code)


def _storefront_ref(value: Any) -> Any:
    # One clear error instead of one per union member; booleans are not ids.
    if isinstance(value, int) and not isinstance(value, bool):
        if not DB_INT_MIN <= value <= DB_INT_MAX:
            raise ValueError("an integer id must be within the signed 64-bit range")
        return value
    if isinstance(value, str):
        try:
            return _CODE.validate_python(value)
        except ValidationError as exc:
            raise ValueError(f"not a valid storefront code: {exc.errors()[0]['msg']}") from None
    raise ValueError("must be the storefront's integer id or its code (a string)")


# integer id, or the storefront code
StorefrontRef = Annotated[int | str, BeforeValidator(_storefront_ref)]


def _check_path(value: str | None) -> str | None:
    if value is not None and not value.startswith("/"):
        raise ValueError("must start with '/'")
    return value


class _SgtmFields(_Strict):
    sgtm_url: HttpUrl500 | None = None
    client_type: Literal["ga4", "custom"] | None = None
    measurement_id: (
        Annotated[TextColumn, StringConstraints(strip_whitespace=True, max_length=50)] | None
    ) = None
    api_secret: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = None
    custom_endpoint_path: Annotated[TextColumn, StringConstraints(max_length=255)] | None = None
    custom_headers: HeaderMap | None = None
    event_types: list[EventType] | None = None
    event_name_map: (
        dict[str, Annotated[str, StringConstraints(min_length=1, max_length=100)]] | None
    ) = None
    is_active: bool | None = None

    _path = field_validator("custom_endpoint_path")(_check_path)


class SgtmConfigCreate(_SgtmFields):
    storefront_id: StorefrontRef
    sgtm_url: HttpUrl500
    client_type: Literal["ga4", "custom"] = "ga4"
    is_active: bool = True


class SgtmConfigUpdate(_SgtmFields):
    pass


class SgtmConfigOut(_Out):
    id: int
    storefront_id: int
    sgtm_url: str
    client_type: str
    measurement_id: str | None
    api_secret: str | None = Field(description="always masked")
    custom_endpoint_path: str | None
    custom_headers: dict[str, str] | None = Field(description="values always masked")
    event_types: list[str] | None
    event_name_map: dict[str, str] | None
    is_active: bool
    created_at: datetime
    updated_at: datetime


# ---- platforms ---------------------------------------------------------------------------


class CredentialFieldSpec(_Strict):
    name: Annotated[
        str, StringConstraints(min_length=1, max_length=100, pattern=r"^[a-z][a-z0-9_]*$")
    ]
    label: Name
    secret: bool = True
    required: bool = True
    kind: Literal["url", "host"] | None = Field(
        default=None, description="the value says where requests go: checked as a destination"
    )


def _unique_field_names(
    fields: list[CredentialFieldSpec] | None,
) -> list[CredentialFieldSpec] | None:
    if fields is None:
        return None
    names = [f.name for f in fields]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"duplicate field names: {', '.join(duplicates)}")
    if "base_url" in names:
        raise ValueError("base_url is accepted by every platform and must not be listed")
    return fields


AuthType = Literal[
    "access_token", "api_key", "api_secret", "oauth2", "basic", "bearer", "hmac", "none"
]
Category = Literal[
    "ads", "analytics", "affiliate", "mobile_attribution", "cdp", "messaging", "other"
]


class PlatformCreate(_Strict):
    platform_code: Annotated[
        str, StringConstraints(min_length=1, max_length=50, pattern=r"^[a-z][a-z0-9_]*$")
    ]
    name: Name
    category: Category = "ads"
    auth_type: AuthType
    credential_fields: list[CredentialFieldSpec] = Field(default_factory=list)
    docs_url: HttpUrl500 | None = None
    is_active: bool = True

    _fields = field_validator("credential_fields")(_unique_field_names)


class PlatformUpdate(_Strict):
    name: Name | None = None
    category: Category | None = None
    auth_type: AuthType | None = None
    credential_fields: list[CredentialFieldSpec] | None = None
    docs_url: HttpUrl500 | None = None
    is_active: bool | None = None

    _fields = field_validator("credential_fields")(_unique_field_names)


class PlatformOut(_Out):
    id: int
    platform_code: str
    name: str
    category: str
    auth_type: str
    credential_fields: list[dict[str, Any]]
    docs_url: str | None
    is_active: bool
    created_at: datetime
    updated_at: datetime


# ---- platform credentials ----------------------------------------------------------------


def _credential_headers(values: dict[str, Any]) -> dict[str, Any]:
    """Webhook ``headers`` checked as HTTP headers; a value of another shape is the
    service's to refuse (it knows the platform's fields)."""
    headers = values.get("headers")
    if isinstance(headers, dict) and all(isinstance(v, str) for v in headers.values()):
        check_headers(headers, under=("headers",))
    return values


class _CredentialFields(_Strict):
    settings: dict[str, StoredJson] | None = Field(
        default=None, description="non-secret: base_url, test_event_code, api_version, ..."
    )
    event_types: list[EventType] | None = None
    event_name_map: (
        dict[str, Annotated[str, StringConstraints(min_length=1, max_length=100)]] | None
    ) = None
    is_active: bool | None = None


class CredentialCreate(_CredentialFields):
    storefront_id: StorefrontRef
    platform_id: StrictDbInt | None = None
    platform_code: TextColumn | None = None
    credentials: Annotated[dict[str, StoredJson], AfterValidator(_credential_headers)]
    is_active: bool = True


class CredentialUpdate(_CredentialFields):
    credentials: (
        Annotated[dict[str, StoredJson | None], AfterValidator(_credential_headers)] | None
    ) = Field(
        default=None, description="merged into the stored values; a null value removes a field"
    )


class CredentialOut(_Out):
    id: int
    storefront_id: int
    platform_id: int
    platform_code: str
    credentials: dict[str, Any] = Field(description="secret fields masked")
    settings: dict[str, Any] | None
    event_types: list[str] | None
    event_name_map: dict[str, str] | None
    is_active: bool
    created_at: datetime
    updated_at: datetime
