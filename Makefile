# Every command sets up what it needs: a fresh clone needs only `make run` or `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed-$(shell cat uv.lock pyproject.toml | cksum | cut -d' ' -f1)
HOST ?= 127.0.0.1
PORT ?= 8000
# The suite runs in this many processes (pytest-xdist, an idle one taking tests queued for
# another); 0 runs it in the pytest process itself.
TEST_WORKERS ?= 2
PYTEST_WORKERS := -n $(TEST_WORKERS) --dist worksteal

.PHONY: install run worker sandbox demo test test-sqlite bench lint format clean

$(STAMP): pyproject.toml uv.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(BIN)/uv || $(BIN)/python -m pip install -q "uv==$(UV_VERSION)"
	UV_PROJECT_ENVIRONMENT=$(VENV) $(BIN)/uv sync --frozen --inexact
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

run: install  ## migrate the database and serve on 127.0.0.1:8000 with the worker inside
	$(BIN)/omnirelay db upgrade
	$(BIN)/omnirelay serve --host $(HOST) --port $(PORT)

worker: install
	$(BIN)/omnirelay worker

sandbox: install  ## local fakes of sGTM and the ad platforms on 127.0.0.1:8090
	$(BIN)/omnirelay sandbox

demo: install  ## sandbox + a demo storefront wired to it + the service
	$(BIN)/omnirelay db upgrade
	$(BIN)/omnirelay demo
	$(BIN)/omnirelay sandbox & trap 'kill $$!' EXIT; \
	OUTBOUND_ALLOW="$${OUTBOUND_ALLOW:+$$OUTBOUND_ALLOW,}127.0.0.1" \
	$(BIN)/omnirelay serve --host $(HOST) --port $(PORT)

test: install  ## the suite, on SQLite and (when reachable; always with CI=true) PostgreSQL and MariaDB
	$(BIN)/pytest $(PYTEST_WORKERS)

test-sqlite: install
	OMNIRELAY_TEST_BACKENDS=sqlite $(BIN)/pytest $(PYTEST_WORKERS)

bench: install  ## ingest and delivery benchmarks, printed as ratios against floors measured in the same run
	$(BIN)/python -m bench

lint: install
	$(BIN)/ruff check omnirelay tests bench
	$(BIN)/ruff format --check omnirelay tests bench
	$(BIN)/mypy omnirelay

format: install
	$(BIN)/ruff format omnirelay tests bench
	$(BIN)/ruff check --fix omnirelay tests bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
