# Development and CI entry points. Works without Docker: redis-server, a Celery worker and uvicorn run
# on loopback in the background (pid files and logs in .run/). See scripts/stack.sh.
#   make up / make down   start / stop the stack (API on 127.0.0.1:$(API_PORT))
#   make demo             set up a fresh machine, start the stack, run examples/client.py, stop the stack
#   make test             every test (pytest) against stored PyBLP reference numbers
#   make lint             ruff and mypy, as configured in pyproject.toml
#   make test-live        re-run PyBLP now and compare (reference tests marked 'live', a few minutes; the notebooks', ~12 more)
#   make port-report      PyBLP's documentation notebooks on blp with the import renamed: per notebook status
#   make openapi          re-export openapi/openapi.json
#   make fuzz             schemathesis from openapi/openapi.json, every check, from a real dataset and job: 200 requests per
#                         operation and 200 stateful scenarios (FUZZ_CHECKS=all adds the checks still pending)
#   make docs             the documentation site (MkDocs, mkdocs.yml) into site/, --strict: a warning fails it
#   make load             bench/load.py: 500 jobs through a loopback stack, latency at 200 requests/s
#   make test-deploy      the image without Docker: Dockerfile emulated (fresh venv, pip install .), run as compose
#                         says in a network namespace (root), compose file validated, Dockerfile linted (~5 min)
#   make image-test       the real image under a Docker daemon, same checks (exits 2 when there is no daemon)

API_PORT ?= 8000
VENV ?= .venv
PYTHON ?= $(if $(wildcard $(VENV)/bin/python),$(VENV)/bin/python,python3)
export API_PORT PYTHON

.PHONY: up down status demo test test-live test-deploy image-test lint bench openapi setup fuzz load port-report docs

up:
	scripts/stack.sh up

down:
	scripts/stack.sh down

status:
	scripts/stack.sh status

test:
	$(PYTHON) -m pytest

lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m mypy

test-live:
	$(PYTHON) -m pytest -m live tests/reference tests/port

# --keep-going runs past errors and lists every distinct one (the missing API); see tests/port/report.py
port-report:
	$(PYTHON) tests/port/report.py $(PORT_REPORT_ARGS)

# -rP: the passed tests' output carries the measured start-up and estimate times.
test-deploy:
	$(PYTHON) -m pytest -m deploy -rfEsP tests/deploy

image-test:
	PYTHON=$(PYTHON) scripts/image_test.sh

bench:
	$(PYTHON) bench/bench_core.py
	$(PYTHON) bench/bench_merger.py

openapi:
	$(PYTHON) scripts/export_openapi.py

FUZZ_MAX_EXAMPLES ?= 200
FUZZ_STEPS ?= 200
fuzz:
	FUZZ_MAX_EXAMPLES=$(FUZZ_MAX_EXAMPLES) FUZZ_STEPS=$(FUZZ_STEPS) $(PYTHON) -m pytest -p no:cacheprovider tests/api/test_api_fuzz.py

# The site's API reference imports nothing (mkdocstrings reads blp/ statically); the docs extra brings MkDocs.
docs:
	NO_MKDOCS_2_WARNING=1 $(PYTHON) -m mkdocs build --strict

load:
	$(PYTHON) bench/load.py

# A fresh machine: Redis from Debian when missing, a virtualenv with the project and its test extra.
setup:
	@command -v redis-server >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server; }
	@test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test,docs]'

demo: setup
	@set -e; \
	PYTHON=$(VENV)/bin/python scripts/stack.sh up; \
	trap 'PYTHON=$(VENV)/bin/python scripts/stack.sh down' EXIT; \
	$(VENV)/bin/python -m examples.client --url http://127.0.0.1:$(API_PORT)
