"""/api/v1/taxonomy: names parsed into their fields, validated in bulk, previewed."""

from __future__ import annotations

from fastapi import APIRouter

from omnirelay.deps import DbSession
from omnirelay.errors import COMMON_ERRORS, error_responses
from omnirelay.security import require
from omnirelay.trafficking import schemas as s
from omnirelay.trafficking import service
from omnirelay.trafficking.dependencies import TaxonomyDep

router = APIRouter(
    prefix="/api/v1/taxonomy",
    tags=["taxonomy"],
    dependencies=[require("read")],
    responses=error_responses(*COMMON_ERRORS),
)


@router.post("/parse", response_model=s.ParseOut)
async def parse_name(body: s.ParseIn, taxonomy: TaxonomyDep) -> s.ParseOut:
    """A name's fields under the taxonomy, or why it breaks it."""
    violations = taxonomy.violations(body.name)
    return s.ParseOut(
        name=body.name,
        valid=not violations,
        version=taxonomy.version,
        fields=None if violations else taxonomy.parse(body.name),
        violations=[s.ViolationOut(field=v.field, reason=v.reason) for v in violations],
    )


@router.post("/validate", response_model=s.ValidateOut)
async def validate_names(body: s.ValidateIn, taxonomy: TaxonomyDep) -> s.ValidateOut:
    """Every name that breaks the taxonomy, with every violation (up to 100,000 names)."""
    invalid = taxonomy.validate_many(body.names)
    return s.ValidateOut(
        version=taxonomy.version,
        checked=len(body.names),
        valid=len(body.names) - len(invalid),
        invalid=len(invalid),
        results=[
            s.NameResult(
                index=index,
                name=body.names[index],
                violations=[s.ViolationOut(field=v.field, reason=v.reason) for v in found],
            )
            for index, found in invalid
        ],
    )


@router.post("/preview", response_model=s.PreviewOut, responses=error_responses(404))
async def preview_name(
    body: s.CampaignDraftFields, session: DbSession, taxonomy: TaxonomyDep
) -> s.PreviewOut:
    """The name a campaign made of this draft would get, and whether one already has it;
    nothing is created."""
    return await service.preview_campaign(session, body, taxonomy)
