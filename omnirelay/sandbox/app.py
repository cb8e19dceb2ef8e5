"""The sandbox server: every platform fake under its prefix, plus the control endpoints.

GET    /_sandbox/requests[?platform=meta]   what the fakes received (and answered)
DELETE /_sandbox/requests                   forget it all (faults and created campaigns too)
PUT    /_sandbox/faults/{platform}          arm a fault ('*' for every platform)
DELETE /_sandbox/faults/{platform}          disarm it
GET    /_sandbox/campaigns[?platform=meta]  the campaigns the campaign-create fakes hold
PUT    /_sandbox/campaigns/faults/{platform}  fail the next creates after storing them
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Response

from omnirelay.sandbox import (
    campaigns,
    ga4,
    google_ads,
    meta,
    meta_ads,
    pinterest,
    pinterest_ads,
    sgtm,
    snapchat,
    snapchat_ads,
    tiktok,
    tiktok_ads,
    webhook,
)
from omnirelay.sandbox.campaigns import CAMPAIGNS
from omnirelay.sandbox.core import SANDBOX, FaultConfig

PLATFORMS = ("sgtm", "meta", "ga4", "tiktok", "snapchat", "pinterest", "google_ads", "webhook")
# the campaign-create fakes (trafficking deploys) beside the event endpoints
CAMPAIGN_FAKES = (meta_ads, tiktok_ads, snapchat_ads, pinterest_ads, google_ads)
control = APIRouter(prefix="/_sandbox", tags=["sandbox control"])


@control.get("/requests")
async def recorded(platform: str | None = None, limit: int = 1000) -> dict[str, Any]:
    records = SANDBOX.recorded(platform)
    return {"total": len(records), "requests": [r.as_dict() for r in records[-limit:]]}


@control.delete("/requests", status_code=204)
async def reset() -> Response:
    SANDBOX.reset()
    CAMPAIGNS.reset()
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
    for module in (sgtm, meta, ga4, tiktok, snapchat, pinterest, webhook, *CAMPAIGN_FAKES):
        app.include_router(module.router)
    app.include_router(control)
    app.include_router(campaigns.control)
    return app
