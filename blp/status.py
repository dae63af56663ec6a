"""Status updates (what PyBLP prints while it works), output as `blp.options` says at the time of the update:
only when `verbose`, through `verbose_output`, flushing standard output when `flush_output`."""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Iterator

from blp import options
from blp.printing import clock


def output(message: str) -> None:
    """Output one status update, if `options.verbose`."""
    if not options.verbose:
        return
    options.verbose_output(message)
    if options.flush_output:
        sys.stdout.flush()


def elapsed(start: float) -> str:
    """Seconds since `start` (a `time.perf_counter()`) as PyBLP's clock, `HH:MM:SS`."""
    return clock(time.perf_counter() - start)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """No status updates within: for problems the core builds for itself (a realization of the errors, a
    simulation's economy), which PyBLP does not announce."""
    verbose = options.verbose
    options.verbose = False
    try:
        yield
    finally:
        options.verbose = verbose
