"""What a failed job, multi-start start or bootstrap chunk records: the problem document of the exception it raised.

Why one module: the ladder (out of memory, time limit, the core's own errors, anything else) was written once per
task kind, and the copies drifted: a bootstrap chunk that ran out of memory was recorded as a generic 500 while a
start that did the same was recorded as the 507 of `worker.memory`.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded

import blp
from jobstore.problems import ProblemDetails, core_problem_details
from worker import memory
from worker.celery_app import settings
from worker.memory import OutOfMemory

log = logging.getLogger(__name__)


def problem_details_of(error: Exception, subject: str, where: str, title: Optional[str] = None) -> ProblemDetails:
    """The problem of `error`, raised while running a `subject` ('job', 'start', 'chunk'; `where` names it in the
    log): out of memory 507, past the soft time limit 504, a core error its own 4xx, anything else a logged 500
    titled `title` (by default '<Subject> failed')."""
    if isinstance(error, (OutOfMemory, MemoryError)):
        log.warning('%s ran out of memory: %s', where, error)
        return memory.problem_details(error)
    if isinstance(error, SoftTimeLimitExceeded):
        return ProblemDetails(504, 'time-limit', 'Time limit exceeded',
                              f'the {subject} ran past its time limit of {settings().job_soft_time_limit} s')
    if isinstance(error, blp.BLPError):
        log.warning('%s failed: %s', where, error)
        return core_problem_details(error)
    log.error('%s failed', where, exc_info=error)
    return ProblemDetails(500, 'numerics-failed', title or f'{subject.capitalize()} failed', f'{type(error).__name__}: {error}')


def failed_row(problem: ProblemDetails) -> dict[str, Any]:
    """The row a fanned-out member (a start, a chunk) records when it failed: its problem document."""
    return {'status': 'failed', 'error': problem.to_dict()}


def lost_problem_details(error: BaseException, subject: str) -> ProblemDetails:
    """The problem of a task that failed outside its own handling (Celery's `on_failure`): the hard time limit killed
    its process (504), or something escaped it (500)."""
    if isinstance(error, TimeLimitExceeded):
        return ProblemDetails(504, 'time-limit', 'Time limit exceeded',
                              f'the {subject} ran past the hard time limit of {settings().job_time_limit} s')
    return ProblemDetails(500, 'internal-error', 'Internal error', f'{type(error).__name__}: {error}')


def worker_lost(subject: str, attempt: int) -> ProblemDetails:
    """The problem of a `subject` whose delivery number `attempt` is over JOB_MAX_ATTEMPTS: the earlier ones each
    died with their worker, so it is not run again."""
    return ProblemDetails(500, 'worker-lost', 'Worker lost',
                          f'the worker running this {subject} died {attempt - 1} times; not retrying')
