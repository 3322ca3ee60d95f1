# Switchboard — the two commands a newcomer needs are `make run` and `make test`;
# both install first when needed. `make help` lists the rest.

SHELL := /bin/bash
.DEFAULT_GOAL := help

SERVICES := email payments orders reports integrations
SERVICE ?=
ARGS ?=
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_DIR ?= $(or $(SWITCHBOARD_DATA_DIR),var)
PYPROJECTS := pyproject.toml $(wildcard shared/pyproject.toml gateway/pyproject.toml services/*/pyproject.toml)
LOCK := $(wildcard uv.lock)
SRC_DIRS := shared/src gateway/src $(wildcard services/*/src)
TEST_DIRS := shared/tests gateway/tests services tests
PYTEST := $(BIN)/pytest -p no:cacheprovider
# Most of the suite waits on real worker processes and servers: four pytest-xdist processes
# overlap those waits on two cores; a test file stays on one process (module fixtures).
TEST_JOBS ?= 4

# Fails with a usage line unless SERVICE names one of the five services.
define require_service
	@case " $(SERVICES) " in *" $(SERVICE) "*) ;; \
	  *) echo "usage: make $@ SERVICE=<one of: $(SERVICES)>" >&2; exit 2;; esac
endef

.PHONY: help install run demo test test-slow lint bench worker beat flower migrate clean

help: ## list the targets
	@echo "Switchboard: make run (start everything locally), make test (the test suite)"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## /  \1\t/' | expand -t 14

install: $(STAMP) ## create .venv with every package installed editable (bootstraps uv)

# Re-installs only when a pyproject.toml or uv.lock changed since the last install.
$(STAMP): $(PYPROJECTS) $(LOCK)
	@uv="$$(command -v uv || true)"; \
	if [ -z "$$uv" ]; then \
	  if python3 -m uv --version >/dev/null 2>&1; then uv="python3 -m uv"; \
	  else \
	    echo "uv not found: installing it with pip"; \
	    python3 -m pip install --quiet uv \
	      || python3 -m pip install --quiet --user --break-system-packages uv; \
	    uv="python3 -m uv"; \
	  fi; \
	fi; \
	if [ -f uv.lock ]; then $$uv sync --all-packages --frozen; \
	else $$uv sync --all-packages; fi
	@touch $@

run: install ## start embedded Redis, local Stripe/SMTP/Twilio, a worker (+beat) per service and the gateway on :8000 (ARGS=--flower)
	$(BIN)/switchboard-standalone $(ARGS)

demo: install ## against a running `make run`: a supplier, three orders (matched, declined, unmatched), their timelines
	$(BIN)/python -m switchboard_gateway.standalone.demo --data-dir $(DATA_DIR)

test: install ## the whole suite against the real local servers, without the slow fault runs
	$(PYTEST) -n $(TEST_JOBS) --dist loadfile -m "not slow" $(TEST_DIRS)

test-slow: install ## only the slow fault runs
	$(PYTEST) -n $(TEST_JOBS) --dist loadfile -m slow $(TEST_DIRS)

lint: install ## ruff (lint, security rules, format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(SRC_DIRS)

# A benchmark is a bench/*.py that takes --quick (helper modules such as the worker apps the
# benchmarks start do not mention it and are skipped).
bench: install ## every bench/*.py script with --quick; each prints its figures as JSON on its last line
	@set -e; shopt -s nullglob; ran=0; \
	for script in bench/*.py; do \
	  grep -q -- '--quick' "$$script" || continue; \
	  echo "== $$script --quick"; \
	  $(BIN)/python "$$script" --quick; \
	  ran=$$((ran + 1)); \
	done; \
	if [ "$$ran" -eq 0 ]; then echo "no benchmark scripts in bench/ yet"; fi

worker: install ## one service's Celery worker: make worker SERVICE=orders
	$(require_service)
	$(BIN)/celery -A switchboard_$(SERVICE).app worker -n $(SERVICE)@%h -l INFO

beat: install ## one service's beat scheduler (schedule and lock in Redis: run two for availability): make beat SERVICE=orders
	$(require_service)
	$(BIN)/celery -A switchboard_$(SERVICE).app beat -l INFO

# Basic auth from <SERVICE>_FLOWER_BASIC_AUTH or FLOWER_BASIC_AUTH (user:password); without it
# the launcher refuses unless ARGS=--standalone on loopback. /metrics is behind the same auth.
flower: install ## one service's Flower, its workers only (email 5551, payments 5552, orders 5553, reports 5554, integrations 5555)
	$(require_service)
	$(BIN)/python -m switchboard_shared.flower $(SERVICE) $(ARGS)

migrate: install ## apply Alembic migrations to every service's database (or SERVICE=… for one)
	@set -e; for service in $(or $(SERVICE),$(SERVICES)); do \
	  echo "== migrating $$service"; \
	  $(BIN)/python -m switchboard_shared.migrate $$service; \
	done

clean: ## remove .venv, var/ (databases, logs, embedded Redis data) and caches
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache
	find . -path ./.git -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
