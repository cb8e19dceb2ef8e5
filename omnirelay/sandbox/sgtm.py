"""Sandbox fake of a server-side GTM container (``/sgtm``).

- ``POST /sgtm/mp/collect``: the container's GA4 / Measurement Protocol client. Answers like
  Google's collector (``204``, empty body, valid or not) and keeps the GA4 validation
  verdict on the recorded request (``record.validation_messages``).
- ``POST /sgtm/{path}``: a custom client claiming any other path (the spec's default is
  ``/collect``). It needs a JSON object with ``event_name``; a request no client can
  claim gets ``400`` from the container, as sGTM answers unclaimed requests. A claimed one
  gets ``200 {"status": "ok"}``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from omnirelay.sandbox.core import SANDBOX, finish
from omnirelay.sandbox.ga4 import collect_answer

router = APIRouter(prefix="/sgtm")


def _bad_request(message: str) -> Response:
    return JSONResponse({"status": "error", "message": message}, status_code=400)


@router.post("/mp/collect")
async def mp_collect(request: Request) -> Response:
    record, fault = await SANDBOX.receive("sgtm", request, _bad_request)
    if fault is not None:
        return fault
    return collect_answer(record)


@router.post("/{path:path}")
async def custom_client(path: str, request: Request) -> Response:
    record, fault = await SANDBOX.receive("sgtm", request, _bad_request)
    if fault is not None:
        return fault
    body = record.body
    if not isinstance(body, dict):
        return finish(record, _bad_request("request body must be a JSON object"))
    if not str(body.get("event_name") or "").strip():
        return finish(record, _bad_request("event_name is required"))
    return finish(record, JSONResponse({"status": "ok"}, status_code=200))
