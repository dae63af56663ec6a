"""Which markets' contractions GMM may use, and how d delta / d theta is then computed: the one home of the rule
that the whole-problem path (`blp.estimation.estimator`) and the chunks (`blp.model.chunks`) both follow.

PyBLP goes on with a delta whose contraction ran out of `max_evaluations` on finite values (its
`error_behavior='revert'` reverts only values that are not finite), so such a market counts as settled; its delta is
off the fixed point, where the shares at delta are not the observed ones, so d delta / d theta then takes the
observed shares on the diagonal of ds/d delta, as it does when the iteration returns its start (`'return'`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from blp.configurations.solve_options import Iteration


class Settled(NamedTuple):
    """The rule applied to one contraction's markets."""

    settled: np.ndarray  # markets that converged or stopped at the limit on finite values: usable
    limited: np.ndarray  # the latter: usable as they are, off the fixed point
    observed: bool       # d delta / d theta takes the observed shares (some market limited, or 'return')


def stopped_at_limit(converged: np.ndarray, evaluations: np.ndarray, delta: np.ndarray,
                     iteration: Iteration) -> np.ndarray:
    """The markets (T) whose contraction did not converge but ran out of `max_evaluations` on finite values (`delta`
    T x J, padded with finite values)."""
    return ~converged & (evaluations >= iteration.max_evaluations) & np.isfinite(delta).all(axis=1)


def settle(converged: np.ndarray, evaluations: np.ndarray, delta: np.ndarray, iteration: Iteration,
           limit_settles: bool = True) -> Settled:
    """The rule on markets with these convergence flags and evaluation counts at `delta` (T x J, padded with finite
    values); `limit_settles` False (an `error_behavior` other than PyBLP's default 'revert'): only convergence
    settles a market."""
    limited = stopped_at_limit(converged, evaluations, delta, iteration) if limit_settles else \
        np.zeros(converged.shape, dtype=bool)
    return Settled(converged | limited, limited, iteration.returns or bool(limited.any()))
