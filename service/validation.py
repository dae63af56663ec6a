"""Checking a job request in a separate process, so that building its problem never stalls the API.

Why: building even a budgeted problem holds the GIL for up to ~0.2 s at a time (pandas and numpy on large agent
data), which stalled /healthz and status reads in the same process. The check runs in a small pool of processes at
a lower CPU priority; at most MAX_CONCURRENT_VALIDATIONS run at once, each within the job memory budget
(RLIMIT_AS), and a request whose check takes over VALIDATION_TIMEOUT_SECONDS gets 503.
Stored datasets are read by the checking process itself (only their ids cross over); inline data is sent along.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import threading
import time
from concurrent.futures import ProcessPoolExecutor, TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from functools import lru_cache
from typing import Any, Optional

import pandas as pd

from jobstore.problems import Problem
from jobstore.settings import Settings
from jobstore.store import Store, connect

# (dataset id, the frame when it is inline data not yet stored, else None)
Data = tuple[Optional[str], Optional[pd.DataFrame]]
HEADROOM_BYTES = 1024**3  # the interpreter and its libraries, on top of the job's own budget


def _start_checker(limit: int) -> None:
    """A checking process yields the CPU to the API's own (nice 10), stays within the memory budget, and ends with
    the API process (Linux: a pool's idle processes would otherwise outlive a killed API)."""
    parent = os.getppid()  # (not PR_SET_PDEATHSIG: it fires when the *thread* that spawned the process ends)

    def orphaned() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=orphaned, daemon=True).start()
    os.nice(10)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


@lru_cache(maxsize=4)
def _store(url: str, socket_timeout: float, connect_timeout: float) -> Store:
    return Store(connect(url, socket_timeout, connect_timeout))


def _frame(store: Store, data: Data, field: str) -> Optional[pd.DataFrame]:
    from service.jobs import stored_frame

    dataset_id, frame = data
    if frame is None and dataset_id is not None:
        frame = stored_frame(store, dataset_id)
        if frame is None:
            raise Problem(422, 'unknown-dataset', 'Unknown dataset', f'no dataset {dataset_id}',
                          field=f'{field}.dataset_id')
    return frame


def _check(settings: Settings, spec_json: str, starts_json: Optional[str], product: Data,
           agent: Data) -> Optional[dict[str, Any]]:
    """In the checking process: the cost, then the problem built on a few nodes, then the starts. Returns the
    problem document of the first fault (with its status and headers), or None."""
    from blp.spec import EstimateSpec, StartsSpec
    from service.budget import check_cost, checkable
    from service.jobs import build_problem, check_starts

    try:
        spec = EstimateSpec.model_validate_json(spec_json)
        starts = StartsSpec.model_validate_json(starts_json) if starts_json else None
        store = _store(settings.redis_url, settings.redis_socket_timeout, settings.redis_connect_timeout)
        product_frame, agent_frame = _frame(store, product, 'product_data'), _frame(store, agent, 'agent_data')
        check_cost(spec, product_frame, agent_frame, settings.budget(), starts=starts.count if starts else 1)
        spec = checkable(spec)
        problem = build_problem(spec, product_frame, agent_frame, (product[0], agent[0]))
        if starts is not None:
            check_starts(problem, spec, starts)
    except Problem as problem:
        return {'status': problem.status, 'slug': problem.slug, 'title': problem.title, 'detail': problem.detail,
                'headers': problem.headers, 'fields': problem.fields}
    except MemoryError:
        return {'status': 422, 'slug': 'over-budget', 'title': 'Job over budget', 'headers': None, 'fields': {},
                'detail': f'out of memory while checking the request (limit {settings.max_job_memory_bytes:,} bytes)'}
    return None


class Validations:
    """The checking processes of one API process; `check` raises the first fault as a Problem."""

    def __init__(self, settings: Settings) -> None:
        self.settings, self.lock = settings, threading.Lock()
        self.slots = threading.BoundedSemaphore(settings.max_concurrent_validations)
        self._pool: Optional[ProcessPoolExecutor] = None

    def pool(self) -> ProcessPoolExecutor:
        with self.lock:
            if self._pool is None:
                self._pool = _pool(self.settings.max_concurrent_validations,
                                   self.settings.max_job_memory_bytes + HEADROOM_BYTES)
            return self._pool

    def check(self, spec_json: str, starts_json: Optional[str], product: Data, agent: Data) -> None:
        timeout = self.settings.validation_timeout_seconds
        if not self.slots.acquire(timeout=timeout):
            raise Problem(503, 'validation-busy', 'Service busy', 'too many requests are being checked; retry',
                          headers={'Retry-After': '5'})
        try:
            future = self.pool().submit(_check, self.settings, spec_json, starts_json, product, agent)
        except BaseException as error:
            self.slots.release()
            raise self._broken() if isinstance(error, BrokenProcessPool) else error
        future.add_done_callback(lambda _: self.slots.release())
        try:
            fault = future.result(timeout=timeout)
        except FutureTimeout:
            raise Problem(503, 'validation-timeout', 'Validation took too long',
                          f'checking this request took over {timeout:g} s; retry later',
                          headers={'Retry-After': '30'}) from None
        except BrokenProcessPool:
            raise self._broken() from None
        if fault is not None:
            raise Problem(fault['status'], fault['slug'], fault['title'], fault['detail'], headers=fault['headers'],
                          **fault['fields'])


    def _broken(self) -> Problem:
        """A checking process died (killed, out of memory): the next request starts a fresh pool."""
        with self.lock:
            _pool.cache_clear()
            self._pool = None
        return Problem(503, 'validation-failed', 'Validation failed', 'the checking process died; retry',
                       headers={'Retry-After': '5'})


@lru_cache(maxsize=4)
def _pool(workers: int, memory_limit: int) -> ProcessPoolExecutor:
    """One pool per API process and limits (apps built by tests share it). Spawned, not forked: the API process
    has threads. Its processes live as long as the API's and exit with it."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context('spawn'),
                               initializer=_start_checker, initargs=(memory_limit,))
