"""A capped pool of helper processes of one API process: at most `size` calls at once, in processes spawned on first
use at a low CPU priority, within a memory limit, and ending with the API process.

Why one class: the API runs two kinds of work outside its own process, the numerics (service.numerics) and the
parsing of large uploads (service.upload_parsers), for the same reasons and with the same machinery: a slot per
call, a lazily started pool, a fresh pool when one of its processes died (a killed process breaks the whole pool:
every later call would fail at once otherwise), the 503s of a call that found no slot, took too long or lost its
process, a connection to the store in each helper process, and faults sent back as plain data.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import resource
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from functools import lru_cache
from typing import Any, Callable, Optional, TypeVar

from jobstore.problems import ProblemDetails
from jobstore.settings import Settings
from jobstore.store import Store, connect

T = TypeVar('T')
# A ProblemDetails as plain data, as a helper process returns it (exceptions with keyword arguments do not survive pickling).
Fault = dict[str, Any]


class NoSlot(Exception):
    """Every slot stayed taken for as long as the caller would wait."""


def _start_helper(limit: int, parent: int, setup: Optional[str]) -> None:
    """A helper process yields the CPU to the API's own (nice 19), stays within its memory limit, ends with the
    API process (Linux: a pool's idle processes would otherwise outlive a killed API), and runs its kind's `setup`
    ('module:function', imported here, after the allocator and the limit are set: a function passed itself would be
    unpickled, its module and pyarrow imported, before this runs)."""
    # `parent` is the API process's pid, given: it may have died before this runs. (Not PR_SET_PDEATHSIG: that
    # fires when the *thread* that spawned the process ends.)
    def orphaned() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=orphaned, daemon=True).start()
    os.nice(19)
    # Arrow's default allocator (mimalloc) reserves about 1 GB of address space, which RLIMIT_AS counts: a helper
    # reading the largest agent data the budget admits died at the limit with ~450 MB resident. The system
    # allocator reserves only what it uses.
    os.environ.setdefault('ARROW_DEFAULT_MEMORY_POOL', 'system')
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if setup is not None:
        module, name = setup.split(':')
        getattr(importlib.import_module(module), name)()


# One pool per API process, kind and limits (apps built by tests share it), until one of its processes dies.
_pools: dict[tuple[str, int, int], ProcessPoolExecutor] = {}
_pools_lock = threading.Lock()


def _pool(key: tuple[str, int, int], setup: Optional[str]) -> ProcessPoolExecutor:
    """The pool of `key` (kind, processes, memory limit), spawned on first use (not forked: the API process has
    threads), each process set up by `setup` (a kind's: the same for every pool of that kind)."""
    with _pools_lock:
        if key not in _pools:
            _pools[key] = ProcessPoolExecutor(max_workers=key[1], mp_context=multiprocessing.get_context('spawn'),
                                              initializer=_start_helper, initargs=(key[2], os.getpid(), setup))
        return _pools[key]


def _drop(key: tuple[str, int, int], broken: ProcessPoolExecutor) -> None:
    with _pools_lock:
        if _pools.get(key) is broken:
            del _pools[key]


class ProcessSlots:
    """`size` helper processes of `kind` ('numerics', 'parsers'), each limited to `memory_limit` bytes and set up by
    `setup` ('module:function', run once in each process as it starts), and a slot per call running in them."""

    def __init__(self, kind: str, size: int, memory_limit: int, setup: Optional[str] = None) -> None:
        self.key, self.size, self.setup = (kind, size, memory_limit), size, setup
        self.lock = threading.Lock()
        self.slots = threading.BoundedSemaphore(size)
        self._pool: Optional[ProcessPoolExecutor] = None

    def pool(self) -> ProcessPoolExecutor:
        with self.lock:
            if self._pool is None:
                self._pool = _pool(self.key, self.setup)
            return self._pool

    def warm(self, load: Callable[[], object]) -> None:
        """Start the processes and run `load` (imports, reading data into a cache) in each, in the background,
        without a slot. Best effort: `size` submissions at once land one per idle process, as each takes the next
        while the others are busy with theirs; a busy process may leave one of them to another."""
        for _ in range(self.size):
            self.pool().submit(load)

    def run(self, call: Callable[..., T], *args: Any, wait: float, timeout: Optional[float] = None) -> T:
        """`call(*args)` in a helper process: NoSlot when no slot freed within `wait` seconds, TimeoutError (of
        concurrent.futures) `timeout` seconds after this call began, its wait for a slot included (the call keeps
        its slot until it ends), BrokenProcessPool when a helper process died (the next call starts a fresh pool)."""
        began = time.monotonic()
        if not self.slots.acquire(timeout=wait):
            raise NoSlot(self.key[0])
        try:
            future: Future[T] = self.pool().submit(call, *args)
        except BaseException as error:
            self.slots.release()
            if isinstance(error, BrokenProcessPool):
                self._reset()
            raise
        future.add_done_callback(lambda _: self.slots.release())
        try:
            return future.result(timeout=None if timeout is None else max(0.0, timeout - (time.monotonic() - began)))
        except BrokenProcessPool:
            self._reset()
            raise

    def call(self, call: Callable[..., T], *args: Any, wait: float, busy: ProblemDetails, died: ProblemDetails,
             timeout: Optional[float] = None, late: Optional[ProblemDetails] = None) -> T:
        """`run`, with its refusals raised as problem documents: `busy` when no slot freed within `wait` seconds,
        `late` after `timeout`, `died` when a helper process died."""
        try:
            return self.run(call, *args, wait=wait, timeout=timeout)
        except NoSlot:
            raise busy from None
        except FutureTimeout:
            if late is None:
                raise
            raise late from None
        except BrokenProcessPool:  # a helper died (killed, out of memory): the next call starts a fresh pool
            raise died from None

    def _reset(self) -> None:
        """Forget the broken pool (here and for every app of this process), so the next call spawns a fresh one."""
        with self.lock:
            if self._pool is not None:
                _drop(self.key, self._pool)
            self._pool = None


def fault(problem: ProblemDetails) -> Fault:
    """A ProblemDetails as plain data, to return from a helper process."""
    return {'status': problem.status, 'slug': problem.slug, 'title': problem.title, 'detail': problem.detail,
            'headers': problem.headers, 'fields': problem.fields}


def from_fault(fault: Fault) -> ProblemDetails:
    """The ProblemDetails a helper process returned as plain data."""
    return ProblemDetails(fault['status'], fault['slug'], fault['title'], fault['detail'], headers=fault['headers'],
                          **fault['fields'])


def helper_store(settings: Settings) -> Store:
    """The store of a helper process: one connection per process (and settings), made on first use."""
    return _store(settings.redis_url, settings.redis_socket_timeout, settings.redis_connect_timeout)


@lru_cache(maxsize=4)
def _store(url: str, socket_timeout: float, connect_timeout: float) -> Store:
    return Store(connect(url, socket_timeout, connect_timeout))
