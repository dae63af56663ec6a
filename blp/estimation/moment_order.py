"""The moments in PyBLP's order, the one place that maps between it and ours.

Our instrument matrices put a side's exogenous characteristics (X1's in ZD, X3's in ZS) before its excluded
instruments; PyBLP puts the excluded instruments first. The GMM arithmetic does not care, but a user does: arrays
indexed by the moments (`W`, `updated_W`, `moments`, `moments_jacobian`, `moments_covariances`,
`simulation_covariances`) are reported in PyBLP's order, and a `W` given to `solve` (PyBLP's `updated_W`, or ours) is
read in it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


class MomentOrder:
    """A permutation of the M moments: `order[i]` is our index of PyBLP's moment i."""

    def __init__(self, order: Sequence[int]) -> None:
        self.order = np.asarray(order, dtype=int)
        self.inverse = np.argsort(self.order)

    @classmethod
    def of(cls, sides: Sequence[Sequence[int]], M: int) -> 'MomentOrder':
        """The order of a stack whose first blocks are the sides' instruments, each side's columns listed in PyBLP's
        order (`pyblp_order`); the moments after them (covariance, micro) are in the same order in both."""
        order: list[int] = []
        for columns in sides:
            offset = len(order)
            order.extend(offset + column for column in columns)
        return cls(order + list(range(len(order), M)))

    def vector(self, array: np.ndarray) -> np.ndarray:
        """`array` (ours, moments along its rows: g, or G with a column per parameter) with PyBLP's rows."""
        return np.asarray(array)[self.order]

    def matrix(self, array: np.ndarray) -> np.ndarray:
        """An M x M matrix of ours (W, S) in PyBLP's order."""
        return np.asarray(array)[np.ix_(self.order, self.order)]

    def given(self, array: np.ndarray) -> np.ndarray:
        """An M x M matrix given in PyBLP's order (a user's W, a stored one) in ours."""
        return np.asarray(array)[np.ix_(self.inverse, self.inverse)]
