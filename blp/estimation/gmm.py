"""Linear IV-GMM pieces: weighting matrices, concentrated-out linear parameters, moment and parameter covariances.

Conventions follow PyBLP so numbers match: moments are averaged over N, the 2SLS weighting matrix starts the
first step, S is computed from (optionally centred) moments, covariances are the sandwich
(G'WG)^-1 G'WSWG (G'WG)^-1 and standard errors divide its diagonal by N.
"""

from __future__ import annotations

import warnings
from typing import Optional, Sequence

import numpy as np
import pandas as pd
import scipy.linalg

ROWS_PER_BLOCK = 2**18  # rows of the moments g held at once by `moment_covariances` (16 MB at 8 moments)


def invert(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric matrix, or its pseudo-inverse (as PyBLP's) when it is singular or so ill-conditioned that
    LAPACK warns; kept symmetric."""
    inverse = precise_inverse(matrix)
    if inverse is None:
        inverse = scipy.linalg.pinvh(matrix)
    return (inverse + inverse.T) / 2


def precise_inverse(matrix: np.ndarray) -> Optional[np.ndarray]:
    """The inverse, or None when the matrix is singular or ill-conditioned (LAPACK's warning, as PyBLP reads it)."""
    if not matrix.size:
        return np.array(matrix, dtype=float)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('error', scipy.linalg.LinAlgWarning)
            inverse = scipy.linalg.inv(matrix)
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgWarning, ValueError):
        return None
    return inverse if np.isfinite(inverse).all() else None


class SingularWeights(Exception):
    """The 2SLS weighting matrix (Z'Z / N)^-1 cannot be computed: instruments are collinear."""


def initial_weights(Zs: Sequence[np.ndarray]) -> np.ndarray:
    """The 2SLS weighting matrix (Z'Z / N)^-1 with the equations' instruments block-diagonal; raises
    `SingularWeights` when Z'Z is singular, as PyBLP refuses to go on then."""
    N = Zs[0].shape[0]
    inverse = precise_inverse(scipy.linalg.block_diag(*(Z.T @ Z / N for Z in Zs)))
    if inverse is None:
        raise SingularWeights
    return (inverse + inverse.T) / 2


class LinearIV:
    """The concentrated-out linear parameters of stacked equations y_e = X_e b_e + u_e with block-diagonal
    instruments: b(y) = (X'Z W Z'X)^-1 X'Z W Z'y for fixed X, Z and W, everything that does not involve y cached.

    With `sizes`, each X_e has every equation's columns (y_e = X_e b + u_e: quasi-differenced equations, where the
    other equation's lagged regressors enter) and `sizes` splits b into the equations' parameters."""

    def __init__(self, Xs: Sequence[np.ndarray], Zs: Sequence[np.ndarray], W: np.ndarray,
                 sizes: Optional[Sequence[int]] = None) -> None:
        self.Xs, self.Zs, self.W = list(Xs), list(Zs), W
        self.full = sizes is not None
        self.sizes = list(sizes) if sizes is not None else [X.shape[1] for X in self.Xs]
        self.ZX = np.vstack([Z.T @ X for X, Z in zip(self.Xs, self.Zs)]) if self.full else \
            scipy.linalg.block_diag(*(Z.T @ X for X, Z in zip(self.Xs, self.Zs)))
        if sum(self.sizes):
            self.covariance = invert(self.ZX.T @ W @ self.ZX)
            self.projection = self.covariance @ self.ZX.T @ W  # K x M, applied to Z'y
        else:
            self.projection = np.zeros((0, self.ZX.shape[0]))

    def estimate(self, ys: Sequence[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Each equation's coefficients and residuals y - X b."""
        Zy = np.concatenate([Z.T @ y for Z, y in zip(self.Zs, ys)])
        stacked = self.projection @ Zy
        coefficients = np.split(stacked, np.cumsum(self.sizes)[:-1])
        if self.full:
            return coefficients, [y - X @ stacked for X, y in zip(self.Xs, ys)]
        return coefficients, [y - X @ b for X, y, b in zip(self.Xs, ys, coefficients)]

    def residual_jacobians(self, jacobians: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Each equation's du/dtheta = dy/dtheta - X db/dtheta from its dy/dtheta (fixed effects absorbed): what
        moments of the residuals other than Z'u need (for Z'u the b term vanishes at the concentrated b)."""
        stacked = self.projection @ np.concatenate([Z.T @ J for Z, J in zip(self.Zs, jacobians)])
        parts = np.split(stacked, np.cumsum(self.sizes)[:-1])
        return [J - X @ part for X, J, part in zip(self.Xs, jacobians, parts)]


def moment_covariances(residuals: Sequence[np.ndarray], Zs: Sequence[np.ndarray], kind: str,
                       clustering_ids: Optional[np.ndarray], center: bool) -> np.ndarray:
    """S over the stacked moments: robust (sum of g g' / N), clustered (sums within clusters first) or unadjusted
    (cov(u_e, u_f) Z_e'Z_f / N for each pair of equations). The moments g (N x M) are built `ROWS_PER_BLOCK` rows
    at a time: whole, they were the estimate's peak at N = 10^6 (problems of one block get the same numbers as a
    whole g, bit for bit)."""
    N = Zs[0].shape[0]
    if kind == 'unadjusted':
        blocks = [[(np.var(u) if e == f else np.mean((u - u.mean()) * (v - v.mean()))) * (Z.T @ Y) / N
                   for f, (v, Y) in enumerate(zip(residuals, Zs))] for e, (u, Z) in enumerate(zip(residuals, Zs))]
        S = np.block(blocks) if len(Zs) > 1 else blocks[0][0]
        return (S + S.T) / 2

    def moments(rows: slice) -> np.ndarray:
        return np.column_stack([u[rows, None] * Z[rows] for u, Z in zip(residuals, Zs)]) if len(Zs) > 1 else \
            residuals[0][rows, None] * Zs[0][rows]

    row_blocks = [slice(start, start + ROWS_PER_BLOCK) for start in range(0, N, ROWS_PER_BLOCK)]
    whole = moments(row_blocks[0]) if len(row_blocks) == 1 else None
    if not center:
        mean = None
    elif whole is not None:
        mean = whole.mean(axis=0)
    else:
        mean = np.sum([moments(rows).sum(axis=0) for rows in row_blocks], axis=0) / N
    codes = pd.factorize(pd.Series(clustering_ids, dtype=object))[0] if kind == 'clustered' else None
    clusters = 0 if codes is None else int(codes.max()) + 1
    parts = []  # per block, clustered: the moments summed within clusters (clusters x M); else g'g
    for rows in row_blocks:
        g = whole if whole is not None else moments(rows)
        if mean is not None:
            g -= mean
        parts.append(g.T @ g if codes is None else
                     np.stack([np.bincount(codes[rows], weights=column, minlength=clusters) for column in g.T], axis=1))
    total = parts[0] if len(parts) == 1 else np.sum(parts, axis=0)
    S = (total.T @ total if codes is not None else total) / N
    return (S + S.T) / 2


def parameter_covariances(W: np.ndarray, S: np.ndarray, G: np.ndarray, se_type: str) -> np.ndarray:
    """Asymptotic covariance of sqrt(N)(estimate - truth); unadjusted uses (G'WG)^-1 alone."""
    bread = invert(G.T @ W @ G)
    covariances = bread if se_type == 'unadjusted' else bread @ G.T @ W @ S @ W @ G @ bread
    return (covariances + covariances.T) / 2
