"""The service as the messaging benchmark runs it: the real app, plus a bare authenticated
endpoint that only stores the event row (the floor POST /events is measured against).

``python -m bench.messaging_server --port N`` with the service's environment.
"""

from __future__ import annotations

import argparse
import hashlib
from datetime import datetime
from typing import Annotated, Any

import orjson
import uvicorn
from fastapi import FastAPI, Request
from sqlalchemy import select

from omnirelay.app import create_app
from omnirelay.config import get_settings
from omnirelay.deps import DbSession
from omnirelay.models import BEHAVIOURAL_SOURCE, MarketingEvent, Storefront, table_of
from omnirelay.security import Principal, require
from omnirelay.tuning import tune_for_throughput

BARE_PATH = "/bench/bare-events"


def add_bare_endpoint(app: FastAPI) -> None:
    events = table_of(MarketingEvent)

    @app.post(BARE_PATH)
    async def bare_event(
        request: Request,
        principal: Annotated[Principal, require("ingest")],
        session: DbSession,
    ) -> dict[str, Any]:
        body = await request.body()
        event = orjson.loads(body)
        storefront_id = (
            await session.execute(select(Storefront.id).where(Storefront.code == "bench"))
        ).scalar_one()
        key = "sha256:" + hashlib.sha256(body).hexdigest()
        await session.execute(
            events.insert().values(
                event_id=key,
                storefront_id=storefront_id,
                storefront_code="bench",
                event_type=event["event_type"],
                event_payload=body.decode(),
                source_system=BEHAVIOURAL_SOURCE,
                status="pending",
                user_id=event["user_id"],
                event_time=datetime.fromisoformat(event["event_timestamp"]),
            )
        )
        return {"stored": True}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    settings = get_settings()
    app = create_app(settings, run_worker=False)
    add_bare_endpoint(app)
    tune_for_throughput()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
