"""The dependency picture: service -> jobstore <- worker, worker -> blp; the core and the store import no web or
queue framework, and the worker never loads the HTTP package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def loaded_after(module: str) -> set[str]:
    """Top-level packages a fresh interpreter has loaded after importing `module`."""
    code = f'import sys, {module}; print(" ".join(sorted({{m.split(".")[0] for m in sys.modules}})))'
    output = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True,
                            cwd=ROOT).stdout
    return set(output.split())


def test_worker_does_not_import_the_http_package():
    loaded = loaded_after('worker.tasks, worker.multistart')
    assert not loaded & {'service', 'fastapi', 'starlette'}, loaded & {'service', 'fastapi', 'starlette'}


def test_job_store_imports_neither_web_framework_nor_worker():
    loaded = loaded_after('jobstore.store, jobstore.fanout, jobstore.problems, jobstore.settings, jobstore.codec, '
                          'jobstore.tasks')
    assert not loaded & {'service', 'worker', 'fastapi', 'starlette', 'celery'}


def test_core_imports_no_service_machinery():
    loaded = loaded_after('blp')
    assert not loaded & {'service', 'worker', 'jobstore', 'fastapi', 'redis', 'celery'}
