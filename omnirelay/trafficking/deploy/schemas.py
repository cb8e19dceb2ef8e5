from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

TaskStatus = Literal["PENDING", "STARTED", "RETRY", "SUCCESS", "FAILURE"]


class DeployRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ticket_id: uuid.UUID = Field(description="a READY_FOR_API ticket")


class DeployQueued(BaseModel):
    task_id: str
    ticket_id: str
    status: Literal["queued"] = "queued"
    message: str


class DeployStatus(BaseModel):
    task_id: str
    ticket_id: str | None
    status: TaskStatus = Field(
        description="PENDING (queued), STARTED (a worker holds it), RETRY (an attempt "
        "failed, another follows), SUCCESS, FAILURE"
    )
    result: dict[str, Any] | None = None
    attempts: int
    next_attempt_at: datetime | None = None
