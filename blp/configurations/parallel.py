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

import time
from contextlib import contextmanager
from typing import Iterator

from blp.exceptions import SpecificationError
from blp.status import elapsed, output

_workers = [1]  # the innermost active block's count (a stack: blocks nest)


def workers() -> int:
    """How many threads a solve spreads its markets over now: the enclosing `parallel` block's count, else 1."""
    return _workers[-1]


@contextmanager
def parallel(processes: int, use_pathos: bool = False) -> Iterator[None]:
    """Within the block, solves spread their markets over `processes` threads (see the module's docstring)."""
    if not isinstance(processes, int) or processes < 1:  # PyBLP takes True for one process too
        raise SpecificationError(f'processes must be a positive integer, not {processes!r}', parameter='processes')
    if processes == 1:
        output('There is only one process, so there is no parallel processing to do.')
        yield
        return
    start = time.perf_counter()
    output(f'Starting a pool of {processes} processes ...')
    _workers.append(processes)
    output(f'Started the process pool after {elapsed(start)}.')
    try:
        yield
    finally:
        start = time.perf_counter()
        output(f'Terminating the pool of {processes} processes ...')
        _workers.pop()
        output(f'Terminated the process pool after {elapsed(start)}.')
