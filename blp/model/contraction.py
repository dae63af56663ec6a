"""Market shares and their inversion, vectorized across markets in a padded (market x product x agent) layout.

Overflow safety without per-iteration exponentials of the whole agent array: with c_t = max_j delta_jt and
r_it = max_j mu_ijt, exp(delta_jt + mu_ijt) = exp(c_t + r_it) exp(delta_jt - c_t) exp(mu_ijt - r_it) and both
factors on the right are at most one. exp(mu - r) is computed once per theta; each contraction step needs only
J exponentials per market and two batched matrix-vector products. Padded products have exp(mu - r) = 0 and
padded agents weight 0, so markets of unequal size need no special cases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from blp.data import Layout
from blp.options import Iteration
from blp.parameters import NonlinearValues

EXPONENT_LIMIT = 700.0


@dataclass(frozen=True)
class Utilities:
    """What one theta fixes: the scaled exponentiated heterogeneous utilities and their per-agent maxima."""

    coefficients: np.ndarray  # T x I x K2 agent-specific coefficients on X2
    scaled: np.ndarray        # T x J x I  exp(mu - r), 0 for padded products
    peak: np.ndarray          # T x I      r = max_j mu
    outside: np.ndarray       # T x I      exp(-r), the outside good on the same scale (clipped, never inf)


@dataclass(frozen=True)
class Contraction:
    """The solved delta with per-market evaluation counts and convergence flags."""

    delta: np.ndarray       # T x J
    evaluations: np.ndarray  # T
    converged: np.ndarray    # T


class RandomCoefficients:
    """BLP demand with mu = X2 (Sigma nu' + Pi d') in every market at once."""

    def __init__(self, layout: Layout, X2: np.ndarray, weights: np.ndarray, nodes: np.ndarray,
                 demographics: np.ndarray, log_columns: Optional[np.ndarray] = None) -> None:
        self.layout = layout
        self.mask = layout.mask
        self.full = bool(self.mask.all())
        self.X2 = layout.pad(X2)
        self.weights, self.nodes, self.demographics = weights, nodes, demographics
        self.log_columns = np.zeros(self.X2.shape[2], dtype=bool) if log_columns is None else log_columns

    def coefficients(self, sigma: np.ndarray, pi: np.ndarray) -> np.ndarray:
        """Agent-specific coefficients on X2 (T x I x K2): Sigma nu + Pi d, exponentiated in the columns whose
        `rc_types` is `'log'` (PyBLP's lognormal coefficients: exp(Sigma_k nu + Pi_k d) > 0)."""
        coefficients = self.nodes @ sigma.T
        if pi.size:
            coefficients = coefficients + self.demographics @ pi.T
        if self.log_columns.any():
            logged = coefficients[:, :, self.log_columns]
            coefficients[:, :, self.log_columns] = np.exp(np.clip(logged, -EXPONENT_LIMIT, EXPONENT_LIMIT))
        return coefficients

    def coefficient_derivatives(self, coefficients: np.ndarray, variables: np.ndarray,
                                columns: np.ndarray) -> np.ndarray:
        """d coefficient_ik / d theta_p (T x I x P') for parameters that move column `columns[p]` through the agent
        variable `variables[..., p]`: the variable itself, times the coefficient in lognormal columns."""
        logged = self.log_columns[columns]
        if not logged.any():
            return variables
        return variables * np.where(logged, coefficients[:, :, columns], 1.0)

    def prepare(self, values: NonlinearValues) -> Utilities:
        """What one theta fixes for the contraction."""
        return self.utilities(values.sigma, values.pi)

    def utilities(self, sigma: np.ndarray, pi: np.ndarray) -> Utilities:
        coefficients = self.coefficients(sigma, pi)
        mu = self.X2 @ coefficients.transpose(0, 2, 1)
        if not self.full:
            mu[~self.mask] = -np.inf
        peak = mu.max(axis=1)
        mu -= peak[:, None, :]
        np.exp(mu, out=mu)
        return Utilities(coefficients, mu, peak, np.exp(np.clip(-peak, -EXPONENT_LIMIT, EXPONENT_LIMIT)))

    def _parts(self, scaled: np.ndarray, outside: np.ndarray, weights: np.ndarray, mask: np.ndarray,
               delta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """exp(delta - c) with c = max_j delta, logit denominators and weights over denominators, per agent."""
        if self.full:
            top = delta.max(axis=1)
            inside = np.exp(delta - top[:, None])
        else:
            top = np.where(mask, delta, -np.inf).max(axis=1)
            inside = np.exp(np.where(mask, delta - top[:, None], -np.inf))
        denominators = outside * np.exp(np.clip(-top, -EXPONENT_LIMIT, EXPONENT_LIMIT))[:, None]
        denominators += (inside[:, None, :] @ scaled)[:, 0, :]
        return top, inside, denominators, weights / denominators

    def _log_shares(self, scaled: np.ndarray, outside: np.ndarray, weights: np.ndarray, mask: np.ndarray,
                    delta: np.ndarray) -> np.ndarray:
        top, _, _, ratio = self._parts(scaled, outside, weights, mask, delta)
        with np.errstate(divide='ignore'):
            return (delta - top[:, None]) + np.log((scaled @ ratio[:, :, None])[:, :, 0])

    def probabilities(self, utilities: Utilities, delta: np.ndarray, markets: Optional[np.ndarray] = None) -> np.ndarray:
        """Individual choice probabilities s_ijt (T x J x I), or only in `markets` (indices)."""
        scaled, outside, weights, mask = utilities.scaled, utilities.outside, self.weights, self.mask
        if markets is not None:
            scaled, outside, weights, mask, delta = (x[markets] for x in (scaled, outside, weights, mask, delta))
        _, inside, denominators, _ = self._parts(scaled, outside, weights, mask, delta)
        probabilities = scaled * (1 / denominators)[:, None, :]
        probabilities *= inside[:, :, None]
        return probabilities

    def shares(self, utilities: Utilities, delta: np.ndarray) -> np.ndarray:
        return (self.probabilities(utilities, delta) * self.weights[:, None, :]).sum(axis=2)

    def _view(self, utilities: Utilities, log_observed: np.ndarray, work: Optional[np.ndarray]) -> tuple:
        """The arrays one contraction step reads, in markets `work` (all when None); the mask is fourth."""
        arrays = (utilities.scaled, utilities.outside, self.weights, self.mask, log_observed)
        return arrays if work is None else tuple(array[work] for array in arrays)

    def _update(self, view: tuple, delta: np.ndarray) -> np.ndarray:
        """One contraction step, delta + log s - log s(delta)."""
        scaled, outside, weights, mask, observed = view
        return delta + observed - self._log_shares(scaled, outside, weights, mask, delta)

    def solve_delta(self, utilities: Utilities, log_observed: np.ndarray, start: np.ndarray,
                    iteration: Iteration) -> Contraction:
        """delta <- delta + log s - log s(delta), per market, SQUAREM-accelerated.

        Markets stop updating once converged; when at most half of the markets being computed are still active,
        the working arrays shrink to those markets (a copy, so it is done rarely, never per iteration).
        """
        T = self.layout.T
        delta = np.where(self.mask, start, 0.0)
        evaluations = np.zeros(T, dtype=np.int64)
        converged = np.zeros(T, dtype=bool)
        failed = np.zeros(T, dtype=bool)
        step_max = np.ones(T)
        work = np.arange(T)
        view = self._view(utilities, log_observed, None)

        def mapping(x: np.ndarray, live: np.ndarray) -> np.ndarray:
            evaluations[work[live]] += 1
            return np.where(view[3], self._update(view, x), 0.0)

        def settle(old: np.ndarray, new: np.ndarray, live: np.ndarray) -> np.ndarray:
            """Store live markets' new values, flag the converged and the broken; return who stays live."""
            finite = np.isfinite(new).all(axis=1)
            change = np.where(finite, np.abs(new - old).max(axis=1), np.inf)
            store = live & finite
            delta[work[store]] = new[store]
            done = store & (change <= iteration.atol)
            converged[work[done]] = True
            failed[work[live & ~finite]] = True
            return live & ~done & finite & (evaluations[work] < iteration.max_evaluations)

        with np.errstate(all='ignore'):  # broken markets are flagged, not warned about (once: errstate costs)
            while True:
                live = ~converged[work] & ~failed[work] & (evaluations[work] < iteration.max_evaluations)
                if not live.any():
                    break
                if live.sum() <= work.size // 2:
                    work = work[live]
                    view = self._view(utilities, log_observed, work)
                    live = np.ones(work.size, dtype=bool)
                x0 = delta[work]
                x1 = mapping(x0, live)
                live = settle(x0, x1, live)
                if iteration.method == 'simple' or not live.any():
                    continue
                x2 = mapping(x1, live)
                live = settle(x1, x2, live)
                if not live.any():
                    continue
                r, v = x1 - x0, x2 - 2 * x1 + x0
                alpha = np.sqrt((r ** 2).sum(axis=1) / (v ** 2).sum(axis=1))
                limit = step_max[work]
                alpha = np.clip(np.where(np.isfinite(alpha), alpha, 1.0), 1.0, limit)
                step_max[work] = np.where(live & (alpha >= limit), 4 * limit, limit)
                x3 = x0 + 2 * alpha[:, None] * r + alpha[:, None] ** 2 * v
                x3 = np.where(np.isfinite(x3).all(axis=1, keepdims=True), x3, x2)
                delta[work[live]] = x3[live]
                x4 = mapping(x3, live)
                x4 = np.where(np.isfinite(x4).all(axis=1, keepdims=True), x4, x2)
                settle(x3, x4, live)
        return Contraction(delta, evaluations, converged)

    def delta_jacobian(self, utilities: Utilities, delta: np.ndarray, variables: np.ndarray,
                       columns: np.ndarray) -> np.ndarray:
        """d delta / d theta by the implicit function theorem: -(ds/d delta)^-1 ds/d theta, per market.

        Parameter p moves agent i's coefficient on X2 column `columns[p]` by v_ip = `variables[t, i, p]` (a node or
        a demographic; times the coefficient in lognormal columns), so ds_j/d theta_p = sum_i w_i s_ij v_ip (x_jk -
        sum_m s_im x_mk).
        """
        probabilities = self.probabilities(utilities, delta)
        weighted = probabilities * self.weights[:, None, :]
        shares = weighted.sum(axis=2)
        by_delta = weighted @ probabilities.transpose(0, 2, 1)
        by_delta *= -1
        diagonal = np.einsum('tjj->tj', by_delta)
        diagonal += np.where(self.mask, shares, 1.0)
        variables = self.coefficient_derivatives(utilities.coefficients, variables, columns)
        mean_x = (self.X2.transpose(0, 2, 1) @ probabilities).transpose(0, 2, 1)  # T x I x K2
        by_theta = self.X2[:, :, columns] * (weighted @ variables) - weighted @ (variables * mean_x[:, :, columns])
        return -np.linalg.solve(by_delta, by_theta)
