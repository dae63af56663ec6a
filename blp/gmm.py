"""Linear IV-GMM pieces: weighting matrices, concentrated-out linear parameters, moment and parameter covariances.

Conventions follow PyBLP so numbers match: moments are averaged over N, the 2SLS weighting matrix starts the
first step, S is computed from (optionally centred) moments, covariances are the sandwich
(G'WG)^-1 G'WSWG (G'WG)^-1 and standard errors divide its diagonal by N.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd
import scipy.linalg


def invert(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric matrix, falling back to the pseudo-inverse when it is singular; kept symmetric."""
    try:
        inverse = scipy.linalg.inv(matrix)
        if not np.isfinite(inverse).all():
            raise np.linalg.LinAlgError
    except (np.linalg.LinAlgError, ValueError):
        inverse = scipy.linalg.pinvh(matrix)
    return (inverse + inverse.T) / 2


def initial_weights(Z: np.ndarray) -> np.ndarray:
    """The 2SLS weighting matrix (Z'Z / N)^-1."""
    return invert(Z.T @ Z / Z.shape[0])


class LinearIV:
    """beta(y) = (X'Z W Z'X)^-1 X'Z W Z'y for a fixed X, Z and W, with everything that does not involve y cached."""

    def __init__(self, X: np.ndarray, Z: np.ndarray, W: np.ndarray) -> None:
        self.X, self.Z, self.W = X, Z, W
        self.ZX = Z.T @ X
        if X.shape[1]:
            self.covariance = invert(self.ZX.T @ W @ self.ZX)
            self.projection = self.covariance @ self.ZX.T @ W  # K x M, applied to Z'y
        else:
            self.projection = np.zeros((0, Z.shape[1]))

    def estimate(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """beta and the residual y - X beta."""
        beta = self.projection @ (self.Z.T @ y)
        return beta, y - self.X @ beta


def moment_covariances(xi: np.ndarray, Z: np.ndarray, kind: str, clustering_ids: Optional[np.ndarray],
                       center: bool) -> np.ndarray:
    """S: robust (sum of g g' / N), clustered (sums within clusters first) or unadjusted (var(xi) Z'Z / N)."""
    N = Z.shape[0]
    if kind == 'unadjusted':
        S = np.var(xi) * (Z.T @ Z) / N
    else:
        g = xi[:, None] * Z
        if center:
            g = g - g.mean(axis=0)
        if kind == 'clustered':
            codes = pd.factorize(pd.Series(clustering_ids, dtype=object))[0]
            g = np.stack([np.bincount(codes, weights=column) for column in g.T], axis=1)
        S = g.T @ g / N
    return (S + S.T) / 2


def parameter_covariances(W: np.ndarray, S: np.ndarray, G: np.ndarray, se_type: str) -> np.ndarray:
    """Asymptotic covariance of sqrt(N)(estimate - truth); unadjusted uses (G'WG)^-1 alone."""
    bread = invert(G.T @ W @ G)
    covariances = bread if se_type == 'unadjusted' else bread @ G.T @ W @ S @ W @ G @ bread
    return (covariances + covariances.T) / 2
