"""POST /v1/events: the OMS batch API."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Request
from pydantic import ValidationError

from omnirelay.deps import DbSession, after_commit
from omnirelay.errors import COMMON_ERRORS, InvalidInput, PayloadTooLarge, error_responses
from omnirelay.relay.ingest_schemas import BatchEnvelope, IngestResult
from omnirelay.relay.ingest_service import judge_items, store_batch
from omnirelay.security import Principal, require

router = APIRouter(
    prefix="/v1", tags=["ingestion"], responses=error_responses(*COMMON_ERRORS, 413, 415)
)


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


def parse_envelope(body: bytes, max_items: int) -> BatchEnvelope:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput([{"field": "body", "reason": f"invalid JSON: {exc}"}]) from None
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
    return envelope


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
    body = await read_limited_body(request, settings.max_request_body_bytes)
    envelope = parse_envelope(body, settings.max_batch_items)
    judged = judge_items(envelope.data)  # CPU work stays outside the transaction
    if principal.storefronts is not None:
        judged.restrict_to(principal.storefronts)
    result = await store_batch(session, judged)
    if result.accepted:
        metrics, accepted = request.app.state.metrics, result.accepted
        after_commit(session, lambda: metrics.events_accepted.inc(accepted))
        after_commit(session, request.app.state.wake_worker)
    return result
