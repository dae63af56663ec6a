"""Threads for one solve (an estimate, a multi-start start): a job's `solve.threads` (threads over market chunks,
blp.model.chunks) capped at this worker's share of the cores.

Why cap rather than refuse: a job's spec does not know which worker takes it. With several pool processes each
running a job, threads beyond cores / concurrency would only fight the other jobs for the cores (and hold more
chunks in memory at once); on a worker with the cores to itself the request is honoured. The cap is logged. Every
task builds its solve options through `capped_options`, so no kind of job (estimate, multi-start, bootstrap) can
miss the cap.
"""

from __future__ import annotations

import logging
import os

from celery import signals

from blp.configurations.solve_options import SolveOptions
from blp.spec import SolveSpec, solve_options
from worker.celery_app import app

log = logging.getLogger(__name__)


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
    """A spec's solve options as this worker runs them (threads capped): every task that solves builds them here."""
    return capped(solve_options(solve))


@signals.worker_init.connect
def _remember_concurrency(sender: object = None, **_: object) -> None:
    """The pool size the worker resolved (from --concurrency or the cores), for the pool processes it forks."""
    concurrency = getattr(sender, 'concurrency', None)
    app = getattr(sender, 'app', None)
    if app is not None and isinstance(concurrency, int):
        app.conf.worker_concurrency = concurrency
