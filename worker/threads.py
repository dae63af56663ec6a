"""Threads for one solve (an estimate, a multi-start start, a bootstrap chunk): by default what this worker can
spare when the task starts (its cores divided by the tasks its pool processes run now, at least one); a job's own
`solve.threads` (threads over market chunks, blp.model.chunks) capped at this worker's share of the cores.

Why a default from the tasks running now: one job on an idle two-process worker used one of its two cores; the
estimates are the same to the last digit on any number of threads (each market is computed alone, and the chunks'
results are put in market order). Why cap rather than refuse: a job's spec does not know which worker takes it.
With several pool processes each running a job, threads beyond cores / concurrency would only fight the other jobs
for the cores (and hold more chunks in memory at once); on a worker with the cores to itself the request is
honoured. The cap is logged. Every task builds its solve options through `capped_options`, so no kind of job
(estimate, multi-start, bootstrap) can miss the default or the cap.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from typing import Any, Optional

from celery import signals

from blp.configurations.solve_options import SolveOptions
from blp.spec import SolveSpec, solve_options
from worker.celery_app import app

log = logging.getLogger(__name__)
# The pids of this worker's pool processes that run a task now (0: a free slot), in memory the worker's main process
# maps before it forks its pool (`worker_init`), so every pool process sees every other's. None outside a worker.
RUNNING_SLOTS = 256
_running: Optional[Any] = None


def share_of_cores(concurrency: int, cores: int) -> int:
    """Threads one job may use when `concurrency` pool processes share `cores` cores (at least one)."""
    return max(1, cores // max(concurrency, 1))


def capped(options: SolveOptions) -> SolveOptions:
    """`options` with `threads` no more than this worker's share of the cores."""

    cores, concurrency = len(os.sched_getaffinity(0)), app.conf.worker_concurrency
    if not isinstance(concurrency, int):  # None outside a worker; 'auto' (resolved later) may mean all the cores
        concurrency = 1 if concurrency is None else cores
    allowed = share_of_cores(concurrency, cores)
    if options.threads <= allowed:
        return options
    log.info('threads %d capped at %d (worker concurrency %s)', options.threads, allowed, app.conf.worker_concurrency)
    return options.replace(threads=allowed)


def capped_options(solve: SolveSpec) -> SolveOptions:
    """A spec's solve options as this worker runs them (threads by default what it can spare, else capped): every
    task that solves builds them here."""
    options = solve_options(solve)
    if solve.threads is None:
        spare = spare_threads()
        log.info('threads %d: what this worker spares now (%d cores, %d tasks running)', spare,
                 len(os.sched_getaffinity(0)), running_tasks())
        return options.replace(threads=spare)
    return capped(options)


def spare_threads() -> int:
    """This worker's cores divided by the tasks its pool processes run now (this one included), at least one."""
    return max(1, len(os.sched_getaffinity(0)) // running_tasks())


def running_tasks() -> int:
    """Tasks this worker's pool processes run now (at least one: the caller's); a process that died while running
    one no longer counts."""
    if _running is None:
        return 1
    with _running.get_lock():
        return max(1, sum(1 for pid in _running if pid and _alive(pid)))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process took the pid: not ours, so not running a task
        return False
    return True


@signals.worker_init.connect
def share_running_tasks(**_: object) -> None:
    """In the worker's main process, before the pool forks: the slots its pool processes mark their tasks in."""
    global _running
    _running = multiprocessing.get_context('fork').Array('q', RUNNING_SLOTS)


def _mark(running: bool) -> None:
    """Mark this pool process as running a task (in a free slot, or one a dead process left) or as done."""
    if _running is None:
        return
    pid = os.getpid()
    with _running.get_lock():
        for slot, held in enumerate(_running):
            if held == pid:
                _running[slot] = 0
        free = next((slot for slot, held in enumerate(_running) if held == 0 or not _alive(held)), None)
        if running and free is not None:
            _running[free] = pid


@signals.task_prerun.connect
def _task_started(**_: object) -> None:
    _mark(True)


@signals.task_postrun.connect
def _task_ended(**_: object) -> None:
    _mark(False)


@signals.worker_init.connect
def _remember_concurrency(sender: object = None, **_: object) -> None:
    """The pool size the worker resolved (from --concurrency or the cores), for the pool processes it forks."""
    concurrency = getattr(sender, 'concurrency', None)
    app = getattr(sender, 'app', None)
    if app is not None and isinstance(concurrency, int):
        app.conf.worker_concurrency = concurrency
