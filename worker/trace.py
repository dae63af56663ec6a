"""The optimizer's trace: objective and gradient norm at every iteration, stored with the result.

Progress reaches Redis at most every few tenths of a second, so a page that opens a finished job could not draw its
convergence from it; the trace keeps every iteration of the last solve (the result's `results.trace`).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional


def _number(value: Any) -> Optional[float]:
    """A finite float, or None (JSON has no NaN): numpy scalars included."""
    number = float(value) if value is not None else math.nan
    return number if math.isfinite(number) else None


class Trace:
    """An optimizer callback that records each iteration, then calls `forward` (the job's progress).

    A solve's iterations count up within each GMM step; a (step, iteration) that does not follow the last one is a
    new solve (an optimal-instruments re-estimate after its first estimate), which replaces what was recorded.
    """

    def __init__(self, forward: Optional[Callable[[dict], None]] = None) -> None:
        self.forward = forward
        self.points: list[dict[str, Any]] = []

    def __call__(self, info: dict) -> None:
        step, iteration = info.get('step'), int(info.get('iteration') or 0)
        if self.points and (_order(step), iteration) <= (_order(self.points[-1]['step']), self.points[-1]['iteration']):
            self.points = []
        self.points.append({'step': step if isinstance(step, (int, str)) else None, 'iteration': iteration,
                            'objective': _number(info.get('objective')),
                            'gradient_norm': _number(info.get('gradient_norm'))})
        if self.forward is not None:
            self.forward(info)

    def added_to(self, results: dict[str, Any]) -> dict[str, Any]:
        """A result's `results` document with the trace."""
        return {**results, 'trace': self.points}


def _order(step: Any) -> int:
    return step if isinstance(step, int) else 0
