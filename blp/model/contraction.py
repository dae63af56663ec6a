"""Market shares and their inversion on a padded (market x product x agent) layout.

Overflow safety without per-iteration exponentials of the whole agent array: with c_t = max_j delta_jt and
r_it = max_j mu_ijt, exp(delta_jt + mu_ijt) = exp(c_t + r_it) exp(delta_jt - c_t) exp(mu_ijt - r_it) and both
factors on the right are at most one. exp(mu - r) is computed once per theta, vectorized across markets; each
contraction step needs only J exponentials per market and two passes over the market's block, which the compiled
kernel (`logit_kernel`) makes a market at a time from the core's cache. Padded products have exp(mu - r) = 0 and
padded agents weight 0, so markets of unequal size need no special cases.

exp(mu - r) is stored with the outside good's exp(-r) as a last product row (`Utilities.extended`, T x (J + 1) x
I), so the logit denominators are one pass over a market's block with no separate pass for the outside good;
`scaled` and `outside` are views of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from blp.configurations.solve_options import Iteration
from blp.estimation.parameters import NonlinearValues
from blp.model.logit_kernel import EXPONENT_LIMIT, scaled_utilities, share_derivatives, solve_markets
from blp.model.per_market import solve_per_market
from blp.model.squarem import Contraction
from blp.primitives.products import Layout


@dataclass(frozen=True)
class Utilities:
    """What one theta fixes: the scaled exponentiated heterogeneous utilities and their per-agent maxima."""

    coefficients: np.ndarray  # T x I x K2 agent-specific coefficients on X2
    scaled: np.ndarray        # T x J x I  exp(mu - r), 0 for padded products
    peak: np.ndarray          # T x I      r = max_j mu
    outside: np.ndarray       # T x I      exp(-r), the outside good on the same scale (clipped, never inf)
    extended: np.ndarray      # T x (J + 1) x I  scaled with outside as its last row (scaled, outside are views)


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
        J = self.X2.shape[1]
        extended, peak = scaled_utilities(self.X2, coefficients, self.layout.counts)
        return Utilities(coefficients, extended[:, :J], peak, extended[:, J], extended)

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

    def solve_delta(self, utilities: Utilities, log_observed: np.ndarray, start: np.ndarray,
                    iteration: Iteration) -> Contraction:
        """delta <- delta + log s - log s(delta) in every market, SQUAREM-accelerated: compiled, a market at a time
        (`logit_kernel`), unless the iteration asks for what only the per-market loop does (`per_market`)."""
        if not iteration.compiled:
            return solve_per_market(LogitStep(utilities.extended, self.weights, log_observed, self.mask), start,
                                    iteration)
        delta, evaluations, iterations, converged = solve_markets(
            utilities.extended, self.weights, log_observed, self.layout.counts, start, iteration.atol,
            iteration.max_evaluations, iteration.method == 'squarem')
        return Contraction(delta, evaluations, iterations, converged)

    def delta_jacobian(self, utilities: Utilities, delta: np.ndarray, variables: np.ndarray,
                       columns: np.ndarray, observed: Optional[np.ndarray] = None) -> np.ndarray:
        """d delta / d theta by the implicit function theorem: -(ds/d delta)^-1 ds/d theta, per market.

        `observed` shares (T x J), when given, replace the shares at delta on the diagonal of ds/d delta, as PyBLP's
        formula has them: the same at the fixed point, not where `Iteration('return')` kept a start.

        Parameter p moves agent i's coefficient on X2 column `columns[p]` by v_ip = `variables[t, i, p]` (a node or
        a demographic; times the coefficient in lognormal columns); both derivatives come from the compiled
        `logit_kernel.share_derivatives`, a market at a time.
        """
        variables = self.coefficient_derivatives(utilities.coefficients, variables, columns)  # T x I x P
        by_delta, by_theta = share_derivatives(utilities.extended, self.weights, delta, self.layout.counts,
                                               self.X2[:, :, columns], variables)
        if observed is not None:
            np.einsum('tjj->tj', by_delta)[...] += np.where(self.mask, observed - self.shares(utilities, delta), 0.0)
        return -np.linalg.solve(by_delta, by_theta)


class LogitStep:
    """One step of the logit contraction on a block of markets in numpy, delta -> log s + c - log sum_i S_ji w_i / D_i
    (the kernel's mapping, `logit_kernel`), for the per-market loop."""

    def __init__(self, extended: np.ndarray, weights: np.ndarray, log_observed: np.ndarray, mask: np.ndarray) -> None:
        self.extended, self.weights, self.log_observed, self.mask = extended, weights, log_observed, mask

    def select(self, markets: np.ndarray) -> 'LogitStep':
        return LogitStep(self.extended[markets], self.weights[markets], self.log_observed[markets], self.mask[markets])

    def __call__(self, delta: np.ndarray) -> np.ndarray:
        J = self.mask.shape[1]
        top = np.where(self.mask, delta, -np.inf).max(axis=1)
        inside = np.where(self.mask, np.exp(delta - top[:, None]), 0.0)
        denominators = self.extended[:, J] * np.exp(np.clip(-top, -EXPONENT_LIMIT, EXPONENT_LIMIT))[:, None]
        denominators += np.einsum('tj,tji->ti', inside, self.extended[:, :J])
        totals = np.einsum('tji,ti->tj', self.extended[:, :J], self.weights / denominators)
        with np.errstate(divide='ignore'):
            return np.where(self.mask, self.log_observed + top[:, None] - np.log(totals), 0.0)
