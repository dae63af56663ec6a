"""The inner loop's driver: a per-market fixed point delta = G(delta), SQUAREM-accelerated, on a block of markets.

G is a `Step` (the nested logit mapping of `nested_contraction`; the plain logit one is compiled, market by market,
in `logit_kernel`, which follows this driver's rules): it
owns the block's padded (market x product x agent) arrays and its buffers, so the driver only moves T x J vectors.
Markets are independent, so each stops on its own: a converged (or broken) market is no longer stored, and once a
quarter of the markets being computed have stopped, the step is rebuilt on the live ones (a copy of their arrays,
which costs about one evaluation of them; carrying a quarter of dead markets costs that every three evaluations).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from blp.configurations.solve_options import Iteration

KEEP_LIVE = 0.75  # rebuild the step on the live markets once fewer than this share of its markets are live


class Step(Protocol):
    """One evaluation of G on every market of a block: delta (markets x J) -> G(delta), zero in padded products."""

    mask: np.ndarray  # markets x J, True for real products

    def __call__(self, delta: np.ndarray) -> np.ndarray: ...

    def select(self, markets: np.ndarray) -> 'Step':
        """The same mapping on `markets` (indices into this block) only."""
        ...


@dataclass(frozen=True)
class Contraction:
    """The solved delta with per-market evaluation and iteration counts and convergence flags. An iteration is
    PyBLP's major one (its `fp_iterations`): a finite evaluation of the simple iteration, a SQUAREM cycle whose
    stabilizing evaluation is finite."""

    delta: np.ndarray        # T x J
    evaluations: np.ndarray  # T
    iterations: np.ndarray   # T
    converged: np.ndarray    # T


def squarem(step: Step, start: np.ndarray, iteration: Iteration) -> Contraction:
    """Iterate `step` from `start` per market until |G(delta) - delta| <= atol in every product (sup norm), with
    SQUAREM extrapolation (Varadhan and Roland: two evaluations, a step of length alpha in [1, step_max] with
    step_max growing fourfold while it binds, and a stabilizing evaluation) unless `iteration.method` is 'simple'."""
    T = start.shape[0]
    delta = np.where(step.mask, start, 0.0)
    evaluations, iterations = np.zeros(T, dtype=np.int64), np.zeros(T, dtype=np.int64)
    converged = np.zeros(T, dtype=bool)
    failed = np.zeros(T, dtype=bool)
    step_max = np.ones(T)
    # the markets `step` computes (`work`) and their state, compact; written back when the work shrinks and at the end
    work = np.arange(T)
    current, counts, cycles, done, broken, limits = delta, evaluations, iterations, converged, failed, step_max

    def settle(old: np.ndarray, new: np.ndarray, live: np.ndarray) -> np.ndarray:
        """Store live markets' new values, flag the converged and the broken; return who stays live. `old` is
        finite, so a market's change is finite exactly when its new values are."""
        change = np.abs(new - old).max(axis=1)
        finite = np.isfinite(change)
        store = live & finite
        np.copyto(current, new, where=store[:, None])
        stopped = change <= iteration.atol
        stopped &= store
        done[stopped] = True
        broken[live & ~finite] = True
        return store & ~stopped & (counts < iteration.max_evaluations)

    with np.errstate(all='ignore'):  # broken markets are flagged, not warned about (once: errstate costs)
        while True:
            live = ~(done | broken) & (counts < iteration.max_evaluations)
            if not live.any():
                break
            if live.sum() < KEEP_LIVE * work.size:
                keep = np.flatnonzero(live)
                if work.size < T:
                    delta[work], evaluations[work], iterations[work], converged[work], failed[work], \
                        step_max[work] = current, counts, cycles, done, broken, limits
                step, work = step.select(keep), work[keep]
                current, counts, cycles, done, broken, limits = (current[keep], counts[keep], cycles[keep], done[keep],
                                                                 broken[keep], limits[keep])
                live = np.ones(work.size, dtype=bool)
            x0 = current.copy()
            counts += live
            x1 = step(x0)
            if iteration.method == 'simple':
                cycles += live & np.isfinite(x1).all(axis=1)
            live = settle(x0, x1, live)
            if iteration.method == 'simple' or not live.any():
                continue
            counts += live
            x2 = step(x1)
            live = settle(x1, x2, live)
            if not live.any():
                continue
            r = x1 - x0
            v = x2 - x1
            v -= r
            alpha = np.sqrt(np.einsum('tj,tj->t', r, r) / np.einsum('tj,tj->t', v, v))
            alpha = np.clip(np.where(np.isfinite(alpha), alpha, 1.0), 1.0, limits)
            limits[live & (alpha >= limits)] *= 4
            r *= 2 * alpha[:, None]
            v *= (alpha ** 2)[:, None]
            x3 = x0 + r
            x3 += v
            x3 = np.where(np.isfinite(x3).all(axis=1, keepdims=True), x3, x2)
            np.copyto(current, x3, where=live[:, None])
            counts += live
            x4 = step(x3)
            finite = np.isfinite(x4).all(axis=1, keepdims=True)
            cycles += live & finite[:, 0]
            x4 = np.where(finite, x4, x2)
            settle(x3, x4, live)
    if work.size < T:
        delta[work], evaluations[work], iterations[work], converged[work], failed[work], step_max[work] = (
            current, counts, cycles, done, broken, limits)
    return Contraction(delta, evaluations, iterations, converged)
