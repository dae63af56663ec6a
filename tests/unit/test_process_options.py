"""Importing the service's numerics or the worker's modules changes no option of `blp`: the core's status lines are
turned off when those processes start (the numerics processes' setup, the worker's `worker_init`, before its warm-up,
and `worker_process_init`), so a test, a tool or a notebook that imports them keeps its own options."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

IMPORT_THEM = '''
import json
import blp

def options():
    return {name: repr(value) for name, value in vars(blp.options).items() if not name.startswith('_')}

before = options()
import service.main, service.numerics, worker.celery_app
worker.celery_app.app.loader.import_default_modules()  # every module the worker includes (worker.tasks, ...)
print(json.dumps(sorted(name for name, value in options().items() if before[name] != value)))
'''

START_THE_WORKER = '''
import json
from celery import signals
import blp, worker.celery_app, worker.warmup

worker.celery_app.app.loader.import_default_modules()
during_warm_up = []
worker.warmup.warm = lambda: during_warm_up.append(blp.options.verbose) or 0.0  # what the warm-up's solve would see
worker.warmup.warm_pool_process = lambda: 0.0
started = [blp.options.verbose]
signals.worker_init.send(sender=None)
started.append(blp.options.verbose)
blp.options.verbose = True  # as a pool process forked from a main process that had it on
signals.worker_process_init.send(sender=None)
started.append(blp.options.verbose)
print(json.dumps({'started': started, 'during_warm_up': during_warm_up}))
'''


def run(code: str) -> object:
    """What `code` printed (JSON) in a fresh interpreter."""
    output = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    return json.loads(output.strip().splitlines()[-1])


def test_importing_the_service_and_the_worker_changes_no_option() -> None:
    assert run(IMPORT_THEM) == []


def test_the_worker_turns_status_lines_off_when_it_starts_before_its_warm_up_and_in_each_pool_process() -> None:
    assert run(START_THE_WORKER) == {'started': [True, False, False], 'during_warm_up': [False]}
