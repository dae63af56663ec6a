"""Absorbing fixed effects by residualizing on them (Frisch-Waugh-Lovell), never as dummy columns.

One dimension: exact within-group demeaning. Several: alternating projections (demean on each dimension in turn)
until the largest change is below a tolerance; balanced panels converge in a couple of sweeps. Group means use
`np.bincount`, so a sweep over all columns costs a few passes over the data. (pyhdfe offers the same algorithms;
for the sizes BLP problems have, this is as fast and one dependency fewer.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from blp.configurations.formulation import Formulation
from blp.exceptions import DataError, NumericalError


class Absorber:
    """Residualizes columns on one or more sets of fixed effects given as integer group codes."""

    def __init__(self, codes: list[np.ndarray], tol: float = 1e-14, max_iterations: int = 10_000) -> None:
        self.codes = [np.asarray(code, dtype=np.intp) for code in codes]
        self.counts = [np.bincount(code).astype(float) for code in self.codes]
        self.tol, self.max_iterations = tol, max_iterations

    @property
    def dimensions(self) -> int:
        return len(self.codes)

    def _demean(self, matrix: np.ndarray, code: np.ndarray, counts: np.ndarray) -> np.ndarray:
        groups = counts.size
        offsets = (np.arange(matrix.shape[1]) * groups)[None, :]
        flat = (code[:, None] + offsets).ravel()
        sums = np.bincount(flat, weights=matrix.ravel(), minlength=groups * matrix.shape[1])
        means = sums.reshape(matrix.shape[1], groups).T / counts[:, None]
        return matrix - means[code]

    def __call__(self, matrix: np.ndarray) -> np.ndarray:
        """Residualize each column of `matrix` (N x K, or a vector) on all fixed-effect dimensions."""
        if not self.codes:
            return matrix
        vector = matrix.ndim == 1
        values = np.array(matrix, dtype=float).reshape(matrix.shape[0], -1)
        if self.dimensions == 1:
            values = self._demean(values, self.codes[0], self.counts[0])
            return values[:, 0] if vector else values
        scale = max(1.0, float(np.abs(values).max(initial=0.0)))
        for _ in range(self.max_iterations):
            previous = values
            for code, counts in zip(self.codes, self.counts):
                values = self._demean(values, code, counts)
            if np.abs(values - previous).max(initial=0.0) <= self.tol * scale:
                return values[:, 0] if vector else values
        raise NumericalError(f'absorbing {self.dimensions} fixed-effect dimensions did not converge in '
                             f'{self.max_iterations} sweeps')


def absorb_codes(formulation: Formulation, frame: pd.DataFrame, where: str) -> list[np.ndarray]:
    """Integer group codes for each fixed-effect dimension the formulation absorbs."""
    codes = []
    for columns in formulation.absorb_columns(f'{where} absorb'):
        for column in columns:
            if column not in frame.columns:
                raise DataError(f'{where} absorb uses column {column!r}, which is not in product_data', column=column,
                                dataset='product_data')
        keys = frame[list(columns)].astype(str).agg('\x1f'.join, axis=1) if len(columns) > 1 else frame[columns[0]]
        codes.append(pd.factorize(keys)[0])
    return codes


def absorbed_ids(formulation: Formulation, frame: pd.DataFrame) -> np.ndarray:
    """The ids of each fixed-effect dimension the formulation absorbs (N x dimensions, objects): PyBLP's
    `demand_ids` and `supply_ids` (a dimension of several columns joins their values)."""
    columns = [frame[list(dimension)].astype(str).agg(' x '.join, axis=1).to_numpy(dtype=object)
               if len(dimension) > 1 else frame[dimension[0]].to_numpy(dtype=object)
               for dimension in formulation.absorb_columns('absorb') if all(c in frame.columns for c in dimension)]
    return np.column_stack(columns) if columns else np.empty((len(frame), 0), dtype=object)
