"""Bertrand-Nash supply implied by estimated demand: ownership, the eta markup, marginal costs, concentration.

Firms set prices so that s + (H * ds/dp') (p - c) = 0 in each market, hence p - c = eta = Delta^-1 s with
Delta = -H * (ds/dp)'. Pure functions on padded (market x product) arrays, solved for all markets at once.
"""

from __future__ import annotations

import numpy as np


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


def solve_delta_system(Delta: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Delta^-1 right per market (right T x J x P); a singular Delta (a firm whose products do not respond to their
    prices) falls back to the pseudo-inverse."""
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
