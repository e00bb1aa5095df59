# Two commands: `make run` serves the API with the embedded defaults, `make test` runs the suite.
# Both set up .venv first and are safe to repeat.

ifndef PYTHON
PYTHON := $(shell for p in python3 python3.13 python3.12 python3.11; do $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && echo $$p && break; done)
endif
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install lint typecheck schema bench graphiql-assets web clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "switchboard: Python 3.11 or newer is required" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	@$(BIN)/switchboard migrate
	@$(BIN)/switchboard seed-demo
	@$(BIN)/switchboard serve

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

schema: $(STAMP)
	$(BIN)/switchboard export-schema

# Issue 15's targets: the inbox pages (cold, warm, the stock Strawberry baseline, memory), then
# webhook acks and 1,000 subscribers; about 6 minutes on a quiet 2-core machine.
bench: $(STAMP)
	$(BIN)/python -m bench.inbox
	$(BIN)/python -m bench.realtime

# Re-download the pinned GraphiQL, React and React DOM files (npm pack) into server/graphiql/assets/
# and rewrite their manifest of sha384 hashes; the versions are pinned in server/graphiql/refresh.py.
graphiql-assets: $(STAMP)
	$(BIN)/python -m server.graphiql.refresh

# The reference frontend (web/): npm ci, operation types from schema.graphql (graphql-codegen),
# tsc, vite build into server/web/dist/, then the stamp of its sources there (a test fails when
# the build is stale). Needs Node 20.19+ and npm; `make run` serves the committed build.
web: $(STAMP)
	npm ci --prefix web --no-audit --no-fund
	npm run --prefix web build
	$(BIN)/python -m server.web.stamp

clean:
	rm -rf $(VENV) var
