"""Warm the worker before its pool forks, and each pool process once forked: the first job of a fresh worker then
runs as fast as the next.

Why: `import blp` loads the core's modules lazily, so a fresh pool process used to pay for importing about 200
modules (scipy.optimize and most of the core), first-call set-up in numpy/scipy, formula parsing and pyarrow's
Parquet reader during its first job: about half a second of a 3-second estimate. Here the worker's main process
imports them, reads a tiny dataset from Parquet, solves a tiny random-coefficients estimate (a few milliseconds
of numerics) and draws a few Sobol' points (as a multi-start's parent does before publishing its starts) once,
before the pool starts; every pool process forked from it (also one that replaces a process
later) starts warm. BLAS runs one thread per process (`worker/__init__.py`), so no thread pool is forked mid-flight.

A forked process still pays on its first job for touching memory: pages shared with the parent are copied as the
job's code writes reference counts and caches on them, and its allocator has touched nothing yet. Its first cereal
read + build took 0.12-0.14 s against 0.09 s for the next. So each pool process also reads and builds the tiny
problem once right after the fork (`worker_process_init`: 0.04-0.06 s while the process is idle), which brought its
first read + build to 0.09-0.10 s. (A process that replaces one mid-backlog pays that before its first job: a few
hundredths of a second more, after a job large enough to have been replaced.)
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import signals

import blp
from blp.spec import EstimateSpec, solve_options
from jobstore.warmup import SPEC, import_core, stored_tiny_data
from worker import console  # noqa: F401 - its worker_init handler is connected first: the warm-up solves quietly

log = logging.getLogger(__name__)


def _build_tiny() -> tuple[Any, Any]:
    """(the tiny problem, its spec), read from Parquet and built as a job's would be."""
    spec = EstimateSpec.model_validate(SPEC)
    product, agent = stored_tiny_data()
    return blp.Problem.from_spec(spec.problem, product, agent), spec


def warm() -> float:
    """Import every module of the core, solve a tiny estimate and draw Sobol' points once; the seconds it took."""
    clock = time.perf_counter()
    import_core()
    problem, spec = _build_tiny()
    problem.estimate(solve_options(spec.solve)).to_document()
    from scipy.stats import qmc  # loaded (and first drawn from) by the warm-up, inside the seconds it reports

    qmc.Sobol(d=2, scramble=True, seed=0).random_base2(1)  # a process's first draw sets up tables (25-60 ms)
    return time.perf_counter() - clock


def warm_pool_process() -> float:
    """In a freshly forked pool process: read and build the tiny problem again (solving it too cost more than it saved;
    no Redis here: a pool process must start within Celery's 4 s even while Redis is down); the seconds it took."""
    clock = time.perf_counter()
    _build_tiny()
    return time.perf_counter() - clock


@signals.worker_init.connect
def _warm_before_forking(**_: object) -> None:
    try:
        log.info('worker warmed in %.2f s', warm())
    except Exception:  # a cold first job is slower, not wrong: never keep the worker from starting
        log.warning('warming the worker failed', exc_info=True)


@signals.worker_process_init.connect
def _warm_after_forking(**_: object) -> None:
    try:
        log.info('pool process warmed in %.3f s', warm_pool_process())
    except Exception:  # as above: slower, not wrong
        log.warning('warming the pool process failed', exc_info=True)
