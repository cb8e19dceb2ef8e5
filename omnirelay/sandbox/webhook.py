"""A receiver for the generic webhook destination: POST any path under /webhook.

It accepts a JSON object and answers 200. Given ``?secret=...`` it also verifies the
``X-Omnirelay-Signature`` header the way a real receiver should, answering 401 on mismatch.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from omnirelay.destinations.webhook import verify_signature
from omnirelay.sandbox.core import SANDBOX, finish

router = APIRouter(prefix="/webhook", tags=["sandbox: webhook"])


def _invalid(message: str) -> Response:
    return JSONResponse({"error": message}, status_code=400)


@router.post("/{path:path}")
async def receive(path: str, request: Request) -> Response:
    record, fault = await SANDBOX.receive("webhook", request, _invalid)
    if fault is not None:
        return fault
    secret = request.query_params.get("secret")
    if secret is not None:
        signature = request.headers.get("x-omnirelay-signature", "")
        if not verify_signature(secret, signature, await request.body()):
            return finish(record, JSONResponse({"error": "bad signature"}, status_code=401))
    if not isinstance(record.body, dict):
        return finish(record, _invalid("body must be a JSON object"))
    return finish(record, JSONResponse({"received": True}))
