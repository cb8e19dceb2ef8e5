"""What trafficking endpoints are given: the compiled taxonomy, and who is acting."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from omnirelay.security import Principal, require
from omnirelay.trafficking.taxonomy import Taxonomy


async def get_taxonomy(request: Request) -> Taxonomy:
    taxonomy: Taxonomy = request.app.state.taxonomy
    return taxonomy


def actor_of(principal: Principal) -> str:
    """How the history names who changed a ticket: the API key, else the user name."""
    return f"key {principal.key_id} ({principal.name})" if principal.key_id else principal.name


TaxonomyDep = Annotated[Taxonomy, Depends(get_taxonomy)]
Trafficker = Annotated[Principal, require("trafficking")]
