"""The OpenAPI document is true: Schemathesis generates requests for every operation from
the document itself (valid input, and input the document forbids) and sends them to the
running service (uvicorn on a free port, a
SQLite database of its own). No answer may be a 5xx, and every answer's status, content
type and body must be the ones the document declares for that operation.

``OMNIRELAY_CONTRACT_EXAMPLES`` bounds the examples per operation (default 30); the run
prints the figures: operations, cases, failures by kind."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
import uvicorn
from alembic import command
from hypothesis import HealthCheck
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup

from omnirelay.app import create_app
from omnirelay.config import Settings
from omnirelay.migrations import alembic_config
from tests.conftest import AUTH, TEST_KEY

EXAMPLES = int(os.environ.get("OMNIRELAY_CONTRACT_EXAMPLES", "30"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Any]]]:
    directory: Path = tmp_path_factory.mktemp("contract")
    url = f"sqlite+aiosqlite:///{directory / 'contract.db'}"
    command.upgrade(alembic_config(url), "head")
    settings = Settings(
        database_url=url,
        omnirelay_env="test",
        omnirelay_data_dir=directory,
        encryption_key=TEST_KEY,
        basic_auth_username=AUTH[0],
        basic_auth_password=AUTH[1],
        auth_failures_per_minute=100_000,  # the generator sends wrong credentials on purpose
    )
    app = create_app(settings, run_worker=False)
    document = app.openapi()
    # the server is handed a socket bound here: no other process can take its port between
    # finding a free one and listening on it
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(
        target=lambda: asyncio.run(server.serve(sockets=[listener])), daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the service did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", document
    server.should_exit = True
    thread.join(timeout=30)
    listener.close()


def test_every_operation_answers_as_its_document_says(
    service: tuple[str, dict[str, Any]],
) -> None:
    base_url, document = service
    schema = schemathesis.openapi.from_dict(document)
    operations = [result.ok() for result in schema.get_all_operations()]
    cases: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    examples: dict[str, str] = {}

    def examine(operation: Any, mode: GenerationMode) -> None:
        label = f"{operation.method.upper()} {operation.path} ({mode.value})"

        @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
        @hypothesis.settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        )
        def run(case: Any) -> None:
            cases[label] += 1
            try:
                case.call_and_validate(
                    base_url=base_url, auth=AUTH, checks=CHECKS, excluded_checks=[], timeout=30
                )
            except FailureGroup as group:  # counted by kind; the run goes on
                for failure in group.exceptions:
                    kind = f"{label}: {type(failure).__name__}"
                    failures[kind] += 1
                    examples.setdefault(kind, str(failure)[:1500])
            except Exception as exc:
                kind = f"{label}: {type(exc).__name__}"
                failures[kind] += 1
                examples.setdefault(kind, str(exc)[:1500])

        try:
            run()
        except hypothesis.errors.Unsatisfiable:  # nothing the document forbids (no input)
            assert mode == GenerationMode.NEGATIVE, label

    for operation in operations:
        for mode in GenerationMode:  # valid input, then input the document forbids
            examine(operation, mode)
    print(
        f"\ncontract: {len(operations)} operations, {sum(cases.values())} cases, "
        f"{sum(failures.values())} failures"
    )
    for kind, count in failures.most_common():
        print(f"  {count:4d}  {kind}\n{examples[kind]}\n")
    assert len(operations) >= 20
    assert failures == Counter()
