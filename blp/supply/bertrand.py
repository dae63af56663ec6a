"""Bertrand-Nash supply implied by estimated demand: ownership, the eta markup, marginal costs, concentration.

Firms set prices so that s + (H * ds/dp') (p - c) = 0 in each market, hence p - c = eta = Delta^-1 s with
Delta = -H * (ds/dp)'. Pure functions on padded (market x product) arrays, solved for all markets at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy.linalg import lapack

# From this many products per market, Delta is factored once per market (LAPACK getrf) for the markup and its
# derivatives, which solve with the same Delta; below it numpy's batched solve, twice, costs less than a loop of
# per-market factorizations (measured: 10 markets of J = 150 in 0.62 of the time, 94 of J = 48 in 1.26 times).
FACTOR_FROM = 96


def ownership_matrices(firm_codes: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """H_jk = 1 when the same firm sells j and k (T x J x J, zero where padded)."""
    same = firm_codes[:, :, None] == firm_codes[:, None, :]
    return (same & mask[:, :, None] & mask[:, None, :]).astype(float)


def capital_delta(jacobian: np.ndarray, ownership: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Delta = -H * (ds/dp)' (T x J x J) with an identity block for padded products, so that every market's system
    is square and padded products solve to zero."""
    Delta = -ownership * jacobian.transpose(0, 2, 1)
    padded = ~mask
    Delta[padded] = 0.0
    Delta.transpose(0, 2, 1)[padded] = 0.0
    np.einsum('tjj->tj', Delta)[...] += padded
    return Delta


@dataclass(frozen=True)
class FactoredDelta:
    """Delta (T x J x J) with its per-market LU factors (`factor_delta`), for solving with it more than once."""

    Delta: np.ndarray
    factors: Optional[list]  # per market (lu, pivots); None when a market's Delta is singular


def factor_delta(Delta: np.ndarray) -> 'np.ndarray | FactoredDelta':
    """Delta ready for `solve_delta_system` calls with several right-hand sides: factored per market when its markets
    are large enough for that to pay (`FACTOR_FROM`), else as it is."""
    if Delta.shape[1] < FACTOR_FROM or not np.isfinite(Delta).all():  # (not finite: NaN markups, as numpy gives)
        return Delta
    factors = []
    for matrix in Delta:
        lu, pivots, info = lapack.dgetrf(matrix)
        if info != 0:  # singular: the pseudo-inverse, as solve_delta_system does
            return FactoredDelta(Delta, None)
        factors.append((lu, pivots))
    return FactoredDelta(Delta, factors)


def solve_delta_system(Delta: 'np.ndarray | FactoredDelta', right: np.ndarray) -> np.ndarray:
    """Delta^-1 right per market (right T x J x P); a singular Delta (a firm whose products do not respond to their
    prices) falls back to the pseudo-inverse."""
    if isinstance(Delta, FactoredDelta):
        if Delta.factors is None:
            return np.linalg.pinv(Delta.Delta) @ right
        return np.stack([lapack.dgetrs(lu, pivots, block)[0] for (lu, pivots), block in zip(Delta.factors, right)])
    try:
        return np.linalg.solve(Delta, right)
    except np.linalg.LinAlgError:
        return np.linalg.pinv(Delta) @ right


def eta(jacobian: np.ndarray, ownership: np.ndarray, shares: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The markup p - c that makes prices optimal: Delta^-1 s with Delta = -H * (ds/dp)' (T x J, zero where
    padded)."""
    right = np.where(mask, shares, 0.0)[:, :, None]
    return solve_delta_system(capital_delta(jacobian, ownership, mask), right)[:, :, 0]


def hhi(shares: np.ndarray, same_firm: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """10,000 sum_f (sum_{j in f} s_j / sum_j s_j)^2 per market: inside shares, as PyBLP computes it."""
    shares = np.where(mask, shares, 0.0)
    within = np.einsum('tj,tjk,tk->t', shares, same_firm, shares)
    return 1e4 * within / shares.sum(axis=1) ** 2
