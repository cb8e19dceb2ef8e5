"""What the campaign-create fakes share: the campaigns they created (so a lookup by name
finds them) and the "fail after creating" fault.

A platform that created a campaign and then lost its answer (a 500, a dropped connection)
is the case a deploy must survive without creating the campaign twice: arm
``PUT /_sandbox/campaigns/faults/{platform}`` with
``{"mode": "500" | "drop", "times": N, "skip": S}`` and, after S creates answered
normally (a Google Ads budget), the next N creates store what they create, then fail.
``drop`` raises inside the fake, so an in-process client sees a broken transport and a
server ends the exchange with an error. The request faults of ``omnirelay.sandbox.core``
(429, 5xx, timeout, invalid) apply to these endpoints too, before anything is created.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from omnirelay.sandbox.core import RecordedRequest, finish


class AfterCreateFault(BaseModel):
    mode: Literal["500", "drop"] = "500"
    times: int = Field(default=1, ge=1, le=1000, description="creates that fail this way")
    skip: int = Field(default=0, ge=0, le=1000, description="creates answered normally first")


class ConnectionDropped(RuntimeError):
    """Raised by a fake to lose its answer after the campaign was stored."""


@dataclass
class StoredCampaign:
    platform: str
    account_id: str
    id: str
    name: str
    body: dict[str, Any]
    kind: str = "campaign"  # or "budget" (Google Ads)
    request_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass
class CampaignStore:
    campaigns: list[StoredCampaign] = field(default_factory=list)
    faults: dict[str, AfterCreateFault] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self._lock:
            self.campaigns.clear()
            self.faults.clear()

    def next_number(self) -> int:
        with self._lock:
            return next(self._ids)

    def add(self, campaign: StoredCampaign) -> StoredCampaign:
        with self._lock:
            self.campaigns.append(campaign)
        return campaign

    def of(self, platform: str, account_id: str, kind: str = "campaign") -> list[StoredCampaign]:
        with self._lock:
            return [
                c
                for c in self.campaigns
                if c.platform == platform and c.account_id == account_id and c.kind == kind
            ]

    def named(
        self, platform: str, account_id: str, name: str, kind: str = "campaign"
    ) -> StoredCampaign | None:
        return next((c for c in self.of(platform, account_id, kind) if c.name == name), None)

    def by_request_id(
        self, platform: str, account_id: str, request_id: str
    ) -> StoredCampaign | None:
        return next((c for c in self.of(platform, account_id) if c.request_id == request_id), None)

    def after_create(self, platform: str, record: RecordedRequest, answer: Response) -> Response:
        """The answer to a create that stored its campaign, unless a fault takes it."""
        with self._lock:
            fault = self.faults.get(platform)
            if fault is not None and fault.skip > 0:
                fault.skip -= 1
                fault = None
            elif fault is not None:
                fault.times -= 1
                if fault.times <= 0:
                    del self.faults[platform]
        if fault is None:
            return finish(record, answer)
        if fault.mode == "drop":
            record.response_status = 0
            raise ConnectionDropped(f"sandbox {platform}: connection dropped after creating")
        error = {"error": {"message": "sandbox fault after create", "code": 500}}
        return finish(record, JSONResponse(error, status_code=500))


CAMPAIGNS = CampaignStore()
control = APIRouter(prefix="/_sandbox/campaigns", tags=["sandbox control"])


@control.get("")
async def stored(platform: str | None = None) -> dict[str, Any]:
    campaigns = [c.as_dict() for c in CAMPAIGNS.campaigns if platform in (None, c.platform)]
    return {"total": len(campaigns), "campaigns": campaigns}


@control.delete("", status_code=204)
async def forget() -> Response:
    CAMPAIGNS.reset()
    return Response(status_code=204)


@control.put("/faults/{platform}")
async def arm(platform: str, fault: AfterCreateFault) -> dict[str, Any]:
    CAMPAIGNS.faults[platform] = fault
    return {"platform": platform, "fault": fault.model_dump()}


@control.delete("/faults/{platform}", status_code=204)
async def disarm(platform: str) -> Response:
    CAMPAIGNS.faults.pop(platform, None)
    return Response(status_code=204)
