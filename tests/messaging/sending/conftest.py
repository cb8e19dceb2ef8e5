from __future__ import annotations

import logging
from typing import Any

import pytest


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture, monkeypatch: Any) -> pytest.LogCaptureFixture:
    """Every logger at DEBUG (those the service quiets too), captured."""
    names = ["", "httpx", "httpcore", "sqlalchemy", "aiosqlite", "asyncpg", "asyncmy", "omnirelay"]
    for name in [*names, *logging.root.manager.loggerDict]:
        caplog.set_level(logging.DEBUG, logger=name)
        logger = logging.getLogger(name)
        if logger.disabled:
            monkeypatch.setattr(logger, "disabled", False)
    return caplog
