"""What an estimation keeps of its contractions: per-market running sums, the one source of every count the results,
the JSON document and the progress callback report, and, while a GMM step's optimization runs, one compact column
per contraction for PyBLP's per-evaluation arrays (`fp_converged`, `fp_iterations`, `contraction_evaluations`, T x
evaluations, and their `cumulative_*` over the steps).

Why compact: those columns are the only statistics that grow with the number of objective evaluations, by T markets
each (a long multi-start at T = 10,000 evaluates thousands of times). Counts in the smallest unsigned type that holds
them and flags as bits take about 2 bytes per market instead of 17; they come back as PyBLP's int64 on demand.
Contractions outside a step's optimization (the initial update, the Hessian, a restore) add to the sums or, the
Hessian's, not even there (PyBLP counts those of the objective's evaluations only), and keep no column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np


@dataclass(frozen=True)
class Column:
    """One contraction's evaluations, major iterations and convergence by market, compact."""

    evaluations: np.ndarray  # T, the smallest unsigned type that holds them
    iterations: np.ndarray   # T, likewise
    converged: np.ndarray    # T flags packed into bits

    @classmethod
    def of(cls, evaluations: np.ndarray, iterations: np.ndarray, converged: np.ndarray) -> 'Column':
        return cls(_compact(evaluations), _compact(iterations), np.packbits(np.asarray(converged, dtype=bool)))

    @property
    def nbytes(self) -> int:
        return self.evaluations.nbytes + self.iterations.nbytes + self.converged.nbytes


def _compact(counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(counts)
    return counts.astype(np.min_scalar_type(int(counts.max())) if counts.size else np.uint8)


def market_arrays(columns: Sequence[Column], T: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PyBLP's fp_converged, fp_iterations and contraction_evaluations of `columns`: T x columns, int64."""
    if not columns:
        return tuple(np.zeros((T, 0), dtype=np.int64) for _ in range(3))  # type: ignore[return-value]
    converged = np.column_stack([np.unpackbits(column.converged, count=T) for column in columns])
    iterations, evaluations = (np.column_stack([getattr(column, name) for column in columns])
                               for name in ('iterations', 'evaluations'))
    return converged.astype(np.int64), iterations.astype(np.int64), evaluations.astype(np.int64)


class ContractionRecord:
    """The running sums by market and the columns of the step being optimized (`record`)."""

    def __init__(self, T: int) -> None:
        self.market_evaluations = np.zeros(T, dtype=np.int64)  # contraction evaluations per market, cumulative
        self.market_iterations = np.zeros(T, dtype=np.int64)   # its major iterations (PyBLP's), cumulative
        self.columns: Optional[list[Column]] = None  # the step's, while one is recorded

    @property
    def contraction_evaluations(self) -> int:
        return int(self.market_evaluations.sum())

    @property
    def fixed_point_iterations(self) -> int:
        return int(self.market_iterations.sum())

    def add(self, evaluations: np.ndarray, iterations: np.ndarray, converged: np.ndarray) -> None:
        self.market_evaluations += evaluations
        self.market_iterations += iterations
        if self.columns is not None:
            self.columns.append(Column.of(evaluations, iterations, converged))

    def record(self) -> list[Column]:
        """Start a step's columns: each contraction from now on appends to the list returned, until `stop`."""
        self.columns = []
        return self.columns

    def stop(self) -> tuple[Column, ...]:
        """The step's columns; contractions after this keep none."""
        columns, self.columns = tuple(self.columns or ()), None
        return columns

    def saved(self) -> tuple[np.ndarray, np.ndarray]:
        return self.market_evaluations.copy(), self.market_iterations.copy()

    def restore(self, saved: tuple[np.ndarray, np.ndarray]) -> None:
        """Back to `saved` sums (the Hessian's contractions are not counted)."""
        self.market_evaluations, self.market_iterations = saved
