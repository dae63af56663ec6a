"""The random-coefficients logit contraction, compiled, one market at a time to convergence.

Why compiled and per market: one SQUAREM step of a market reads its (J + 1) x I block of exp(mu - r) twice; the
batched numpy driver (`squarem` over a `Step`, as RCNL still runs) reads every market's block once per step, so each
pass comes from memory, and pays numpy's per-call overhead on every step. Here a market's block (200 KB on exercise
2) is read from the core's cache for the whole of its solve, and the loops over agents are compiled (numba), so the
inner loop runs at cache, not memory, bandwidth. The outside good is the block's last row (`Utilities.extended`);
the iteration is `squarem.squarem`'s, market by market (same step lengths, same stopping rule, same evaluation and
iteration counts).

With c = max_j delta_j, the mapping is delta_j <- log s_j + c - log sum_i S_ji w_i / D_i, where S = exp(mu - r) and
D_i = e^{-c} S_outside,i + sum_j e^{delta_j - c} S_ji: every exponential is of a non-positive number, so nothing
overflows (the outside good's e^{-c} is clipped at e^{EXPONENT_LIMIT}, which `contraction` uses too).
"""

from __future__ import annotations

import math
import os
import tempfile
from typing import Any

import numba
import numpy as np

# Compiled code is cached on disk so that only the first process compiles (seconds); beside the package is numba's
# default, but an image's /app is read-only to its user, and no writable cache directory is an import error. So,
# unless NUMBA_CACHE_DIR says otherwise, a per-user directory under the temporary directory, always writable.
config: Any = numba.config  # (its attributes are set at run time: invisible to mypy)
if not config.CACHE_DIR:
    config.CACHE_DIR = os.path.join(tempfile.gettempdir(), f'blp-numba-cache-{os.getuid()}')

EXPONENT_LIMIT = 700.0  # exp of at most this is finite in float64 (the limit is about 709.78)
# reassociation lets the agent sums vectorize; no flag that assumes finite values (broken markets are detected by NaN)
FLAGS = {'reassoc', 'contract', 'nsz'}


@numba.njit(cache=True, nogil=True, fastmath=FLAGS)
def _denominators(block: np.ndarray, delta: np.ndarray, n: int, inside: np.ndarray, denominators: np.ndarray) -> float:
    """The logit denominators D_i (I) of one market's first n products, and `inside` (n) = e^{delta_j - c}; returns c.
    One pass over the block, the contraction's first and the share derivatives' first: four rows at a time, so that
    D is loaded and stored once per four rows (the pass is bound by loads and stores, not arithmetic)."""
    J, I = block.shape[0] - 1, block.shape[1]
    top = delta[0]
    for j in range(1, n):
        top = max(top, delta[j])
    outside = math.exp(min(max(-top, -EXPONENT_LIMIT), EXPONENT_LIMIT))
    for j in range(n):
        inside[j] = math.exp(delta[j] - top)
    row = block[J]
    for i in range(I):
        denominators[i] = outside * row[i]
    j = 0
    while j + 4 <= n:
        e0, e1, e2, e3 = inside[j], inside[j + 1], inside[j + 2], inside[j + 3]
        b0, b1, b2, b3 = block[j], block[j + 1], block[j + 2], block[j + 3]
        for i in range(I):
            denominators[i] += e0 * b0[i] + e1 * b1[i] + e2 * b2[i] + e3 * b3[i]
        j += 4
    for k in range(j, n):
        e0, b0 = inside[k], block[k]
        for i in range(I):
            denominators[i] += e0 * b0[i]
    return top


@numba.njit(cache=True, nogil=True, fastmath=FLAGS)
def _weighted_sums(block: np.ndarray, n: int, weights: np.ndarray, out: np.ndarray) -> None:
    """out_j = sum_i block_ji weights_i for the first n rows: four rows per pass over `weights` (one load of it
    serves four products)."""
    I = block.shape[1]
    j = 0
    while j + 4 <= n:
        b0, b1, b2, b3 = block[j], block[j + 1], block[j + 2], block[j + 3]
        t0 = t1 = t2 = t3 = 0.0
        for i in range(I):
            w = weights[i]
            t0 += b0[i] * w
            t1 += b1[i] * w
            t2 += b2[i] * w
            t3 += b3[i] * w
        out[j], out[j + 1], out[j + 2], out[j + 3] = t0, t1, t2, t3
        j += 4
    for k in range(j, n):
        b0 = block[k]
        t0 = 0.0
        for i in range(I):
            t0 += b0[i] * weights[i]
        out[k] = t0


@numba.njit(cache=True, nogil=True, fastmath=FLAGS)
def _evaluate(block: np.ndarray, weights: np.ndarray, observed: np.ndarray, n: int, delta: np.ndarray,
              out: np.ndarray, ratio: np.ndarray, inside: np.ndarray) -> None:
    """out = G(delta) on one market's first n products; `ratio` (I) and `inside` (n) are scratch (w_i / D_i and
    e^{delta_j - c})."""
    I = block.shape[1]
    top = _denominators(block, delta, n, inside, ratio)
    for i in range(I):
        ratio[i] = weights[i] / ratio[i]
    _weighted_sums(block, n, ratio, out)
    for j in range(n):
        out[j] = observed[j] + top - math.log(out[j])


@numba.njit(cache=True, nogil=True, fastmath=FLAGS)
def _change(old: np.ndarray, new: np.ndarray, n: int) -> float:
    """max_j |new_j - old_j|: NaN (never at most atol) when either is not finite."""
    largest = 0.0
    for j in range(n):
        difference = abs(new[j] - old[j])
        if not math.isfinite(difference):
            return math.nan
        largest = max(largest, difference)
    return largest


@numba.njit(cache=True, nogil=True, fastmath=FLAGS)
def _finite(x: np.ndarray, n: int) -> bool:
    for j in range(n):
        if not math.isfinite(x[j]):
            return False
    return True


GOING, CONVERGED, BROKEN = 0, 1, 2


@numba.njit(cache=True, nogil=True, fastmath=FLAGS)
def _advance(block: np.ndarray, weights: np.ndarray, observed: np.ndarray, n: int, old: np.ndarray, new: np.ndarray,
             ratio: np.ndarray, inside: np.ndarray, current: np.ndarray, atol: float) -> int:
    """new = G(old); `current` takes it when finite; whether the market goes on, has converged or broke."""
    _evaluate(block, weights, observed, n, old, new, ratio, inside)
    change = _change(old, new, n)
    if not math.isfinite(change):
        return BROKEN
    current[:n] = new
    return CONVERGED if change <= atol else GOING


@numba.njit(cache=True, nogil=True, fastmath=FLAGS)
def _solve_market(block: np.ndarray, weights: np.ndarray, observed: np.ndarray, n: int, current: np.ndarray,  # noqa: C901 - SQUAREM's safeguards in one compiled frame, as in squarem.py
                  atol: float, max_evaluations: int, accelerate: bool) -> tuple[int, int, bool]:
    """SQUAREM (or the simple iteration) on one market from `current`, which holds the last finite iterate on
    return; returns (evaluations, iterations, converged). An iteration is PyBLP's major one: a finite evaluation of
    the simple iteration, a SQUAREM cycle whose stabilizing evaluation is finite."""
    ratio, inside = np.empty(block.shape[1]), np.empty(n)
    x0, x1, x2, x3, x4 = np.empty(n), np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    evaluations, iterations, limit = 0, 0, 1.0
    while evaluations < max_evaluations:
        x0[:] = current[:n]
        evaluations += 1
        status = _advance(block, weights, observed, n, x0, x1, ratio, inside, current, atol)
        if not accelerate and status != BROKEN:
            iterations += 1
        if status != GOING:
            return evaluations, iterations, status == CONVERGED
        if not accelerate or evaluations >= max_evaluations:
            continue
        evaluations += 1
        status = _advance(block, weights, observed, n, x1, x2, ratio, inside, current, atol)
        if status != GOING:
            return evaluations, iterations, status == CONVERGED
        if evaluations >= max_evaluations:
            break
        rr = vv = 0.0
        for j in range(n):
            r = x1[j] - x0[j]
            v = x2[j] - x1[j] - r
            rr += r * r
            vv += v * v
        alpha = math.sqrt(rr / vv) if vv > 0 else math.inf
        if not math.isfinite(alpha):
            alpha = 1.0
        alpha = min(max(alpha, 1.0), limit)
        if alpha >= limit:
            limit *= 4.0
        for j in range(n):
            r = x1[j] - x0[j]
            x3[j] = x0[j] + 2.0 * alpha * r + alpha * alpha * (x2[j] - x1[j] - r)
        if not _finite(x3, n):
            x3[:] = x2
        current[:n] = x3
        evaluations += 1
        _evaluate(block, weights, observed, n, x3, x4, ratio, inside)
        if _finite(x4, n):
            iterations += 1
        else:
            x4[:] = x2
        change = _change(x3, x4, n)
        current[:n] = x4
        if change <= atol:
            return evaluations, iterations, True
    return evaluations, iterations, False


@numba.njit(cache=True, nogil=True)
def _solve_markets(extended: np.ndarray, weights: np.ndarray, observed: np.ndarray, counts: np.ndarray,
                   delta: np.ndarray, atol: float, max_evaluations: int, accelerate: bool,
                   evaluations: np.ndarray, iterations: np.ndarray, converged: np.ndarray) -> None:
    for t in range(extended.shape[0]):
        evaluations[t], iterations[t], converged[t] = _solve_market(extended[t], weights[t], observed[t], counts[t],
                                                                    delta[t], atol, max_evaluations, accelerate)


def solve_markets(extended: np.ndarray, weights: np.ndarray, log_observed: np.ndarray, counts: np.ndarray,
                  start: np.ndarray, atol: float, max_evaluations: int,
                  accelerate: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """delta solving log s(delta) = `log_observed` in every market (T x J, 0 in padded products, whose products
    are the trailing ones: `counts[t]` are real), with per-market evaluation and iteration counts and convergence
    flags.

    `extended` is `Utilities.extended` (T x (J + 1) x I, the outside good last), `weights` T x I."""
    T, J = start.shape
    delta = np.zeros((T, J))
    real = np.arange(J)[None, :] < counts[:, None]
    np.copyto(delta, start, where=real)
    evaluations, iterations = np.zeros(T, dtype=np.int64), np.zeros(T, dtype=np.int64)
    converged = np.zeros(T, dtype=np.bool_)
    _solve_markets(np.ascontiguousarray(extended), np.ascontiguousarray(weights, dtype=np.float64),
                   np.ascontiguousarray(log_observed, dtype=np.float64), counts.astype(np.int64), delta,
                   float(atol), int(max_evaluations), bool(accelerate), evaluations, iterations, converged)
    return delta, evaluations, iterations, converged


@numba.njit(cache=True, nogil=True, fastmath=FLAGS)
def _jacobian_market(block: np.ndarray,  # noqa: C901 - one market's loops fused so each row is read once
                     weights: np.ndarray, delta: np.ndarray, n: int, X: np.ndarray,
                     variables: np.ndarray, by_delta: np.ndarray, by_theta: np.ndarray) -> None:
    """ds/d delta (J x J, identity in padded rows) and ds/d theta (J x P) of one market; `variables` is P x I."""
    I, P = block.shape[1], X.shape[1]
    inside, denominators = np.empty(n), np.empty(I)
    _denominators(block, delta, n, inside, denominators)
    mean_x = np.zeros((P, I))  # sum_j s_ij x_jp, times D_i (a second pass over the block, from the cache)
    for j in range(n):
        for p in range(P):
            factor = inside[j] * X[j, p]
            for i in range(I):
                mean_x[p, i] += factor * block[j, i]
    ratio, curvature = np.empty(I), np.empty(I)
    for i in range(I):
        ratio[i] = weights[i] / denominators[i]
        curvature[i] = ratio[i] / denominators[i]
    moved = np.empty((P, I))      # w_i v_ip / D_i
    centred = np.empty((P, I))    # w_i v_ip mean_x_ip / D_i
    for p in range(P):
        for i in range(I):
            moved[p, i] = ratio[i] * variables[p, i]
            centred[p, i] = moved[p, i] * mean_x[p, i] / denominators[i]
    by_delta[:, :] = 0.0
    by_theta[:, :] = 0.0
    scaled, cross, shares = np.empty(I), np.empty(n), np.empty(n)
    _weighted_sums(block, n, ratio, shares)  # times e^{delta_j - c}: the shares
    for j in range(n):
        for p in range(P):
            first = second = 0.0
            for i in range(I):
                first += block[j, i] * moved[p, i]
                second += block[j, i] * centred[p, i]
            by_theta[j, p] = inside[j] * (X[j, p] * first - second)
        for i in range(I):
            scaled[i] = block[j, i] * curvature[i]
        _weighted_sums(block, j + 1, scaled, cross)
        for k in range(j + 1):
            by_delta[j, k] = by_delta[k, j] = -inside[j] * inside[k] * cross[k]
        by_delta[j, j] += inside[j] * shares[j]
    for j in range(n, by_delta.shape[0]):
        by_delta[j, j] = 1.0


@numba.njit(cache=True, nogil=True)
def _jacobian_markets(extended: np.ndarray, weights: np.ndarray, delta: np.ndarray, counts: np.ndarray, X: np.ndarray,
                      variables: np.ndarray, by_delta: np.ndarray, by_theta: np.ndarray) -> None:
    for t in range(extended.shape[0]):
        _jacobian_market(extended[t], weights[t], delta[t], counts[t], X[t], variables[t], by_delta[t], by_theta[t])


def share_derivatives(extended: np.ndarray, weights: np.ndarray, delta: np.ndarray, counts: np.ndarray,
                      X: np.ndarray, variables: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ds/d delta (T x J x J, the identity in padded rows) and ds/d theta (T x J x P) at `delta`, for parameters
    that move column p of `X` (T x J x P) by the agent variable `variables[t, i, p]`:
    ds_j/d theta_p = sum_i w_i s_ij v_ip (x_jp - sum_m s_im x_mp), ds_j/d delta_k = s_j 1(j = k) - sum_i w_i s_ij s_ik.

    Per market in one visit of its (J + 1) x I block, with p_ij = e_j S_ji / D_i (e = exp(delta - c)): every agent sum
    is a sum over S weighted by w / D (shares, ds/d theta) or w / D^2 (the J x J cross terms, half of them: symmetric).
    """
    T, J = delta.shape
    P = X.shape[2]
    by_delta, by_theta = np.empty((T, J, J)), np.empty((T, J, P))
    _jacobian_markets(np.ascontiguousarray(extended), np.ascontiguousarray(weights, dtype=np.float64),
                      np.ascontiguousarray(delta, dtype=np.float64), counts.astype(np.int64),
                      np.ascontiguousarray(X, dtype=np.float64),
                      np.ascontiguousarray(variables.transpose(0, 2, 1), dtype=np.float64), by_delta, by_theta)
    return by_delta, by_theta


@numba.njit(cache=True, nogil=True, fastmath=FLAGS)
def _exponents(X2: np.ndarray, coefficients: np.ndarray, counts: np.ndarray, extended: np.ndarray,
               peak: np.ndarray) -> None:
    """mu - r (r = max_j mu) in each market's first counts[t] rows of `extended`, -inf in its padded rows and
    -r (clipped) in its last row; `coefficients` is T x K2 x I. A market's block is built, reduced and shifted
    from the cache, where numpy's product, max and subtraction each made a pass over every market's block."""
    J, K, I = X2.shape[1], X2.shape[2], coefficients.shape[2]
    for t in range(X2.shape[0]):
        n, block, top = counts[t], extended[t], peak[t]
        for j in range(n):
            row = block[j]
            x, column = X2[t, j, 0], coefficients[t, 0]
            for i in range(I):
                row[i] = x * column[i]
            for k in range(1, K):
                x, column = X2[t, j, k], coefficients[t, k]
                for i in range(I):
                    row[i] += x * column[i]
            if j == 0:
                top[:] = row
            else:
                for i in range(I):
                    top[i] = row[i] if row[i] > top[i] else top[i]
        for j in range(n):
            row = block[j]
            for i in range(I):
                row[i] -= top[i]
        block[n:J] = -np.inf
        for i in range(I):
            block[J, i] = min(max(-top[i], -EXPONENT_LIMIT), EXPONENT_LIMIT)


def scaled_utilities(X2: np.ndarray, coefficients: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """exp(mu - r) with the outside good's exp(-r) as a last row (T x (J + 1) x I, 0 in padded products) and
    r = max_j mu (T x I), for mu = X2 coefficients' (X2 T x J x K2 padded with trailing products, coefficients
    T x I x K2): the exponentials are numpy's (vectorized; the compiled kernel's are scalar)."""
    T, J, K = X2.shape
    I = coefficients.shape[1]
    extended, peak = np.empty((T, J + 1, I)), np.empty((T, I))
    if K == 0:  # no random coefficients: mu = 0
        extended[:, :J] = np.where(np.arange(J)[None, :] < counts[:, None], 1.0, 0.0)[:, :, None]
        extended[:, J], peak[:] = 1.0, 0.0
        return extended, peak
    _exponents(np.ascontiguousarray(X2, dtype=np.float64),
               np.ascontiguousarray(coefficients.transpose(0, 2, 1), dtype=np.float64), counts.astype(np.int64),
               extended, peak)
    np.exp(extended, out=extended)
    return extended, peak


def warm() -> None:
    """Compile the kernel (or load it from numba's on-disk cache) now, on a one-market problem: a per-process cost
    like an import, which a worker pays at start-up (`worker.warmup`) rather than in its first job."""
    extended, weights, counts, delta = np.ones((1, 2, 1)), np.ones((1, 1)), np.ones(1, dtype=np.int64), np.zeros((1, 1))
    solve_markets(extended, weights, np.full((1, 1), np.log(0.5)), counts, delta, 1e-14, 10, True)
    share_derivatives(extended, weights, delta, counts, np.ones((1, 1, 1)), np.ones((1, 1, 1)))
    scaled_utilities(np.ones((1, 1, 1)), np.ones((1, 1, 1)), counts)
