"""POST /v1/events: the OMS batch API."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Request
from pydantic import ValidationError

from omnirelay.deps import DbSession, after_commit
from omnirelay.errors import (
    COMMON_ERRORS,
    InvalidInput,
    PayloadTooLarge,
    UnsupportedMediaType,
    error_responses,
)
from omnirelay.relay.ingest_json import read_batch_json
from omnirelay.relay.ingest_schemas import BatchEnvelope, IngestResult
from omnirelay.relay.ingest_service import judge_items, store_batch
from omnirelay.security import Principal, require

router = APIRouter(
    prefix="/v1", tags=["ingestion"], responses=error_responses(*COMMON_ERRORS, 413, 415)
)
# the body the route reads itself, for the OpenAPI document (see omnirelay.surface)
RAW_BODIES = {("post", "/v1/events"): BatchEnvelope}


_JSON_MEDIA_TYPES = "application/json or application/<subtype>+json, in UTF-8"


def require_json_media_type(content_type: str | None) -> None:
    """Only JSON is read. A browser that holds the OMS's Basic credentials can be made to
    post ``text/plain``, form or untyped bodies from any site without asking first (no
    CORS preflight); it cannot send a JSON media type that way."""
    media_type, *parameters = (content_type or "").split(";")
    kind, _, subtype = media_type.strip().lower().partition("/")
    charset = "utf-8"
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    if kind != "application" or not (subtype == "json" or subtype.endswith("+json")):
        shown = media_type.strip() or "none"
        reason = f"must be {_JSON_MEDIA_TYPES}, not {shown!r}"
    elif charset not in ("utf-8", "utf8"):
        reason = f"must be {_JSON_MEDIA_TYPES}, not charset {charset!r}"
    else:
        return
    raise UnsupportedMediaType([{"field": "content-type", "reason": reason}])


async def read_limited_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body is {declared} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_envelope(body: bytes, max_items: int) -> tuple[BatchEnvelope, bool]:
    """The envelope, and whether its items may hold numbers orjson cannot (``ingest_json``)."""
    try:
        read = read_batch_json(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput([{"field": "body", "reason": f"invalid JSON: {exc}"}]) from None
    document = read.document
    if not isinstance(document, dict):
        raise InvalidInput(
            [{"field": "body", "reason": "must be a JSON object (the batch envelope)"}]
        )
    try:
        envelope = BatchEnvelope.model_validate(document)
    except ValidationError as exc:
        raise InvalidInput(
            [
                {"field": ".".join(str(p) for p in e["loc"]) or "body", "reason": e["msg"]}
                for e in exc.errors(include_url=False, include_context=False)
            ]
        ) from None
    if len(envelope.data) > max_items:
        raise PayloadTooLarge(f"data holds {len(envelope.data)} items; the limit is {max_items}")
    return envelope, read.wide_numbers


@router.post("/events", response_model=IngestResult)
async def post_events(
    request: Request,
    principal: Annotated[Principal, require("ingest")],  # before the session is opened
    session: DbSession,
) -> IngestResult:
    """Accept an OMS batch. Each item is judged on its own; accepted items are durable
    (committed) before the answer is sent. A key limited to some storefronts has the
    items for any other rejected, by index."""
    settings = request.app.state.settings
    require_json_media_type(request.headers.get("content-type"))
    body = await read_limited_body(request, settings.max_request_body_bytes)
    envelope, wide_numbers = parse_envelope(body, settings.max_batch_items)
    judged = judge_items(  # CPU work stays outside the transaction
        envelope.data,
        wide_numbers=wide_numbers,
        future_tolerance_seconds=settings.event_time_future_tolerance_seconds,
    )
    if principal.storefronts is not None:
        judged.restrict_to(principal.storefronts)
    result = await store_batch(session, judged)
    if result.accepted:
        metrics, accepted = request.app.state.metrics, result.accepted
        after_commit(session, lambda: metrics.events_accepted.inc(accepted))
        after_commit(session, request.app.state.wake_worker)
    return result
