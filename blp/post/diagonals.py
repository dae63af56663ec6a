"""PyBLP's `extract_diagonals` and `extract_diagonal_means`: the own-product entries of the per-market matrices that
post-estimation returns (N x max J, rows in product order, or one market's J x J), optionally with a leading axis of
bootstrap draws."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from blp.exceptions import SpecificationError
from blp.primitives.products import Layout


def extract_diagonals(layout: Layout, matrices: Any, t: Optional[int] = None) -> np.ndarray:
    """The diagonal of each market's block as a column: N x 1 (J x 1 for market `t`), draws first if given."""
    values = np.asarray(matrices, dtype=float)
    if t is not None:
        J = int(layout.counts[t])
        if values.shape[-2:] != (J, J):
            raise SpecificationError(f'matrices of market {layout.markets[t]!r} must be {J} x {J}',
                                     parameter='matrices')
        return np.diagonal(values, axis1=-2, axis2=-1)[..., None].copy()
    N = layout.market_index.size
    if values.ndim < 2 or values.shape[-2] != N or values.shape[-1] < layout.width:
        raise SpecificationError(f'matrices must be N x max J ({N} x {layout.width}), as post-estimation returns them',
                                 parameter='matrices')
    return values[..., np.arange(N), layout.position][..., None]


def extract_diagonal_means(layout: Layout, market_order: np.ndarray, matrices: Any,
                           t: Optional[int] = None) -> np.ndarray:
    """The mean of each market's diagonal: T x 1 in the order of market-level outputs (1 x 1 for market `t`)."""
    diagonals = extract_diagonals(layout, matrices, t)[..., 0]
    if t is not None:
        return diagonals.mean(axis=-1)[..., None, None]
    rows = diagonals.reshape(-1, diagonals.shape[-1])
    means = np.stack([np.bincount(layout.market_index, weights=row, minlength=layout.T) / layout.counts
                      for row in rows])
    return means[:, market_order].reshape(*diagonals.shape[:-1], layout.T, 1)
