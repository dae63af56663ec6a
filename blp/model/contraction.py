"""Market shares and their inversion, vectorized across markets in a padded (market x product x agent) layout.

Overflow safety without per-iteration exponentials of the whole agent array: with c_t = max_j delta_jt and
r_it = max_j mu_ijt, exp(delta_jt + mu_ijt) = exp(c_t + r_it) exp(delta_jt - c_t) exp(mu_ijt - r_it) and both
factors on the right are at most one. exp(mu - r) is computed once per theta; each contraction step needs only
J exponentials per market and two batched matrix-vector products. Padded products have exp(mu - r) = 0 and
padded agents weight 0, so markets of unequal size need no special cases.

exp(mu - r) is stored with the outside good's exp(-r) as a last product row (`Utilities.extended`, T x (J + 1) x
I), so the logit denominators are one matrix-vector product per market with no pass over agents for the outside
good; `scaled` and `outside` are views of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from blp.data import Layout
from blp.model.squarem import Contraction, Step, squarem
from blp.options import Iteration
from blp.parameters import NonlinearValues

EXPONENT_LIMIT = 700.0
GROUP_BYTES = 1 << 20  # markets per cache group in a contraction step: half a 2 MiB per-core L2


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
        T, J, _ = self.X2.shape
        extended = np.empty((T, J + 1, coefficients.shape[1]))
        mu, outside = extended[:, :J], extended[:, J]
        np.matmul(self.X2, coefficients.transpose(0, 2, 1), out=mu)
        if not self.full:
            mu[~self.mask] = -np.inf
        peak = mu.max(axis=1)
        mu -= peak[:, None, :]
        np.exp(mu, out=mu)
        np.exp(np.clip(-peak, -EXPONENT_LIMIT, EXPONENT_LIMIT), out=outside)
        return Utilities(coefficients, mu, peak, outside, extended)

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

    def step(self, utilities: Utilities, log_observed: np.ndarray) -> Step:
        """The contraction mapping on these markets, its buffers allocated once."""
        return LogitStep(utilities.extended, self.weights, self.mask, log_observed)

    def solve_delta(self, utilities: Utilities, log_observed: np.ndarray, start: np.ndarray,
                    iteration: Iteration) -> Contraction:
        """delta <- delta + log s - log s(delta) in every market, SQUAREM-accelerated (`squarem`)."""
        return squarem(self.step(utilities, log_observed), start, iteration)

    def delta_jacobian(self, utilities: Utilities, delta: np.ndarray, variables: np.ndarray,
                       columns: np.ndarray) -> np.ndarray:
        """d delta / d theta by the implicit function theorem: -(ds/d delta)^-1 ds/d theta, per market.

        Parameter p moves agent i's coefficient on X2 column `columns[p]` by v_ip = `variables[t, i, p]` (a node or
        a demographic; times the coefficient in lognormal columns), so ds_j/d theta_p = sum_i w_i s_ij v_ip (x_jk -
        sum_m s_im x_mk).

        In the factored form, with p_ij = e_j S_ji / D_i (e = exp(delta - c), S = exp(mu - r)), every agent sum is a
        product with S: ds_j/d delta_k = e_j e_k sum_i S_ji S_ki w_i / D_i^2 (off the diagonal, negated), and
        sum_i w_i s_ij g_i = e_j sum_i S_ji (w_i / D_i) g_i for the shares and ds/d theta. So one elementwise pass
        over S (times w / D^2) is the only agent-size work beside the products; it runs over groups of markets
        that fit in the core's cache, in a buffer allocated once per call.
        """
        scaled, mask = utilities.scaled, self.mask
        _, inside, denominators, ratio = self._parts(scaled, utilities.outside, self.weights, mask, delta)
        reciprocals = 1 / denominators
        curvature = ratio * reciprocals  # w / D^2
        variables = self.coefficient_derivatives(utilities.coefficients, variables, columns)  # T x I x P
        X = self.X2[:, :, columns]
        inside_XT = (X * inside[:, :, None]).transpose(0, 2, 1)  # T x P x J
        T, J, I = scaled.shape
        P = variables.shape[2]
        by_delta = np.empty((T, J, J))
        by_theta = np.empty((T, J, P))
        group = max(1, GROUP_BYTES // (J * I * scaled.itemsize))
        buffer = np.empty((group, J, I))
        right = np.empty((group, I, 1 + 2 * P))  # w / D, then times v, then times v mean_x
        for start in range(0, T, group):
            block = slice(start, start + group)
            size = min(group, T - start)
            S = scaled[block]
            mean_x = (inside_XT[block] @ S).transpose(0, 2, 1)  # size x I x P, times D
            mean_x *= reciprocals[block, :, None]
            weighted = right[:size]
            weighted[:, :, 0] = ratio[block]
            np.multiply(variables[block], ratio[block, :, None], out=weighted[:, :, 1:1 + P])
            np.multiply(weighted[:, :, 1:1 + P], mean_x, out=weighted[:, :, 1 + P:])
            sums = S @ weighted
            sums *= inside[block, :, None]  # shares, sum_i w_i s_ij v_ip, sum_i w_i s_ij v_ip mean_x_ip
            products = buffer[:size]
            np.multiply(S, curvature[block, None, :], out=products)
            outer = by_delta[block]
            np.matmul(products, S.transpose(0, 2, 1), out=outer)
            outer *= inside[block, :, None]
            outer *= -inside[block, None, :]
            np.einsum('tjj->tj', outer)[...] += np.where(mask[block], sums[:, :, 0], 1.0)
            np.multiply(X[block], sums[:, :, 1:1 + P], out=by_theta[block])
            by_theta[block] -= sums[:, :, 1 + P:]
        return -np.linalg.solve(by_delta, by_theta)


class LogitStep:
    """delta -> delta + log s - log s(delta) on a block of markets, near the memory floor: per evaluation two
    passes over exp(mu - r) (one matrix-vector product per market for the denominators, one for the shares), J + 1
    exponentials per market and no temporaries of agent size (buffers allocated once per block).

    With c = max_j delta, log s_j(delta) = delta_j - c + log sum_i scaled_ji w_i / D_i, so the new delta is
    log s_j + c - log sum_i scaled_ji w_i / D_i: delta itself cancels. Both products run over groups of markets
    of about `GROUP_BYTES`, so the second reads what the first left in the core's cache.
    """

    def __init__(self, extended: np.ndarray, weights: np.ndarray, mask: np.ndarray, log_observed: np.ndarray) -> None:
        self.extended, self.weights, self.mask, self.observed = extended, weights, mask, log_observed
        self.padded = ~mask if not mask.all() else None
        T, J1, I = extended.shape
        self.J = J1 - 1
        self.group = max(1, GROUP_BYTES // (J1 * I * extended.itemsize))
        self.inside = np.empty((T, J1))
        self.denominators = np.empty((T, 1, I))
        self.ratio = np.empty((T, I, 1))
        self.sums = np.empty((T, self.J, 1))

    def select(self, markets: np.ndarray) -> 'LogitStep':
        return LogitStep(self.extended[markets], self.weights[markets], self.mask[markets], self.observed[markets])

    def __call__(self, delta: np.ndarray) -> np.ndarray:
        J, inside, denominators, ratio, sums = self.J, self.inside, self.denominators, self.ratio, self.sums
        if self.padded is None:
            top = delta.max(axis=1)
            np.subtract(delta, top[:, None], out=inside[:, :J])
        else:
            np.copyto(inside[:, :J], delta)
            inside[:, :J][self.padded] = -np.inf
            top = inside[:, :J].max(axis=1)
            inside[:, :J] -= top[:, None]
        np.clip(-top, -EXPONENT_LIMIT, EXPONENT_LIMIT, out=inside[:, J])
        np.exp(inside, out=inside)
        extended, weights, T, group = self.extended, self.weights, delta.shape[0], self.group
        for start in range(0, T, group):
            block = slice(start, start + group)
            np.matmul(inside[block, None, :], extended[block], out=denominators[block])
            np.divide(weights[block], denominators[block, 0, :], out=ratio[block, :, 0])
            np.matmul(extended[block, :J], ratio[block], out=sums[block])
        updated = self.observed + top[:, None]
        updated -= np.log(sums[:, :, 0], out=sums[:, :, 0])
        if self.padded is not None:
            updated[self.padded] = 0.0
        return updated
