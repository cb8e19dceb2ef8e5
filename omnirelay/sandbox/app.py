"""The sandbox server: every platform fake under its prefix, plus the control endpoints.

GET    /_sandbox/requests[?platform=meta]   what the fakes received (and answered)
DELETE /_sandbox/requests                   forget it all (faults too)
PUT    /_sandbox/faults/{platform}          arm a fault ('*' for every platform)
DELETE /_sandbox/faults/{platform}          disarm it
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Response

from omnirelay.sandbox import ga4, meta, pinterest, sgtm, snapchat, tiktok, webhook
from omnirelay.sandbox.core import SANDBOX, FaultConfig

PLATFORMS = ("sgtm", "meta", "ga4", "tiktok", "snapchat", "pinterest", "webhook")
control = APIRouter(prefix="/_sandbox", tags=["sandbox control"])


@control.get("/requests")
async def recorded(platform: str | None = None, limit: int = 1000) -> dict[str, Any]:
    records = SANDBOX.recorded(platform)
    return {"total": len(records), "requests": [r.as_dict() for r in records[-limit:]]}


@control.delete("/requests", status_code=204)
async def reset() -> Response:
    SANDBOX.reset()
    return Response(status_code=204)


@control.put("/faults/{platform}")
async def arm_fault(platform: str, fault: FaultConfig) -> dict[str, Any]:
    SANDBOX.faults[platform] = fault
    return {"platform": platform, "fault": fault.model_dump()}


@control.delete("/faults/{platform}", status_code=204)
async def disarm_fault(platform: str) -> Response:
    SANDBOX.faults.pop(platform, None)
    return Response(status_code=204)


@control.get("/faults")
async def faults() -> dict[str, Any]:
    return {name: fault.model_dump() for name, fault in SANDBOX.faults.items()}


def create_sandbox_app() -> FastAPI:
    app = FastAPI(title="omnirelay sandbox", description="Local fakes of sGTM and ad platforms")
    for module in (sgtm, meta, ga4, tiktok, snapchat, pinterest, webhook):
        app.include_router(module.router)
    app.include_router(control)
    return app
