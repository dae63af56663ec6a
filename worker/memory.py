"""The worker's memory guard: a job within the budget before it is built, each pool process within a hard limit.

Why: one job asking for tens of gigabytes must not take the worker (or its host) down. Before a problem is built,
the cost model (blp.configurations.budget) refuses a job over MAX_JOB_MEMORY_BYTES, as the API does (a job queued before the
budget was lowered, or a counterfactual). A job the model underestimates meets RLIMIT_AS in its pool process
(WORKER_MEMORY_LIMIT_BYTES, by default the budget plus 1 GiB for the interpreter and libraries): the allocation
fails with MemoryError, the job ends `failed` with "out of memory while ...", and the process goes on with the next
job. Celery replaces a pool process whose resident memory stayed above the budget after a task
(`worker_max_memory_per_child`), so one large job does not leave a bloated process behind.
"""

from __future__ import annotations

import logging
import resource
from contextlib import contextmanager
from typing import Any, Iterator, Optional

from celery import signals

from blp.configurations.budget import check, sizes_of
from jobstore.problems import ProblemDetails
from worker.celery_app import settings

log = logging.getLogger(__name__)


class OutOfMemory(Exception):
    """An allocation failed under the process's memory limit while the job was `doing` something."""

    def __init__(self, doing: str) -> None:
        super().__init__(f'out of memory while {doing}')
        self.doing = doing


@contextmanager
def doing(what: str) -> Iterator[None]:
    """Name what the job is doing, so that running out of memory says it."""
    try:
        yield
    except MemoryError:
        raise OutOfMemory(what) from None


def problem_details(error: BaseException) -> ProblemDetails:
    """The failed job's problem: what it was doing and the limit it met."""
    what = error.doing if isinstance(error, OutOfMemory) else 'running the job'
    return ProblemDetails(507, 'out-of-memory', 'Out of memory',
                          f'out of memory while {what} (each worker process may use {settings().worker_memory_limit:,} '
                          f'bytes; the job budget is {settings().max_job_memory_bytes:,})', limit=settings().worker_memory_limit)


def check_budget(spec: Any, product: Any, agent: Optional[Any], starts: int = 1, post_estimation: bool = False) -> None:
    """BudgetError (a BLPError: the job fails 422 `over-budget`) when the job would exceed the budget
    (`post_estimation`: it computes choices over every market, as a counterfactual does)."""
    sizes, source = sizes_of(spec, product, agent, starts=starts, post_estimation=post_estimation)
    check(sizes, settings().budget(), source)


@signals.worker_process_init.connect
def _limit_pool_process(**_: object) -> None:
    limit = settings().worker_memory_limit
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    log.info('pool process memory limited to %d bytes', limit)
