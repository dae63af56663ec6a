#!/usr/bin/env bash
# make image-test: build the real image, start it with `docker compose up`, and run the checks the CI emulation runs
# (tests/deploy/image_checks.py: /readyz, /ui, the API key, one cereal estimate), then take the stack down.
# Needs a Docker daemon. Without one it says so and exits 2: a test that cannot run must not look like a pass
# (CI has no daemon and runs the emulation instead: make test-deploy).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
API_PORT=${API_PORT:-8000}
PROJECT=blp-image-test

if ! docker info >/dev/null 2>&1; then
  echo "make image-test: no Docker daemon reachable ('docker info' failed), so the real image was NOT tested." >&2
  echo "Without a daemon, 'make test-deploy' emulates the image (what CI runs)." >&2
  exit 2
fi
if docker compose version >/dev/null 2>&1; then compose=(docker compose); else compose=(docker-compose); fi

API_KEYS="image-test-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
export API_KEYS API_PORT
down() { "${compose[@]}" -p "$PROJECT" down --volumes --remove-orphans; }
trap down EXIT

"${compose[@]}" -p "$PROJECT" build
# Every module imports inside the image (a missing dependency or uncopied package fails here).
"${compose[@]}" -p "$PROJECT" run --rm --no-deps api python -c "
import importlib, pkgutil
for package in ('service', 'worker', 'jobstore', 'blp'):
    for info in pkgutil.walk_packages(importlib.import_module(package).__path__, package + '.'):
        importlib.import_module(info.name)
print('every module imports in the image')"
"${compose[@]}" -p "$PROJECT" up --detach redis api worker
PYTHONPATH=. "$PYTHON" tests/deploy/image_checks.py --url "http://127.0.0.1:${API_PORT}" --api-key "$API_KEYS"
