"""The core's status lines off in the worker's processes: PyBLP's status lines are for a person at a console; a job
reports its progress through the store.

Set when a process starts (Celery's signals), not when a module is imported: importing the worker's modules (tests,
tools, the API's checks of the task names) changes no option of the importing process. `worker_init` covers the main
process, whose warm-up solves a tiny estimate before the prefork pool forks (`worker.warmup` imports this module, so
this handler is connected before the warm-up's); `worker_process_init` each pool process, where the jobs run.
"""

from __future__ import annotations

from celery import signals

import blp


@signals.worker_init.connect
@signals.worker_process_init.connect
def quiet_core(**_: object) -> None:
    blp.options.verbose = False
