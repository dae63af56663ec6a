"""Random coefficients nested logit (RCNL): shares, the nested contraction and d delta / d theta, in every market at
once on the padded (market x product x agent) layout.

With lambda_h = 1 - rho_h, agent i's inclusive value of nest h is IV_ih = lambda_h log sum_{j in h} exp(V_ij /
lambda_h), V_ij = delta_j + mu_ij, and

    s_ij = s_ij|h s_ih,   s_ij|h = exp(V_ij / lambda_h) / sum_{k in h} exp(V_ik / lambda_h),
    s_ih = exp IV_ih / (1 + sum_g exp IV_ig).

Overflow safety as in `contraction`: with r_ih = max_{j in h} mu_ij (once per theta) and c_h = max_{j in h} delta_j
(per step), exp((delta_j + mu_ij) / lambda_h) = exp((c_h + r_ih) / lambda_h) exp((delta_j - c_h) / lambda_h)
exp((mu_ij - r_ih) / lambda_h); both factors on the right are at most one and the largest of each nest is one, so
a nest never underflows as a whole. With D_ih = sum_{j in h} exp((delta_j - c_h) / lambda_h) exp((mu_ij - r_ih) /
lambda_h), IV_ih = c_h + r_ih + lambda_h log D_ih and s_j = exp((delta_j - c_h) / lambda_h) sum_i w_i exp((mu_ij -
r_ih) / lambda_h) s_ih / D_ih. The contraction is PyBLP's, delta <- delta + lambda_h(j) (log s - log s(delta)).

Derivatives (Grigolon and Verboven; the implicit function theorem as for BLP), with C = s_ij|h, E_ih = -sum_{k in h}
C_ik log C_ik (the within-nest entropy):

    ds_j/d delta_k = sum_i w_i s_ij (1[j = k] / lambda_j - rho_j / lambda_j 1[h(j) = h(k)] C_ik - s_ik)
    ds_j/d theta_p = sum_i w_i s_ij v_ip (x_jc / lambda_j - rho_j / lambda_j sum_{k in h(j)} C_ik x_kc - sum_k s_ik x_kc)
    ds_j/d rho_h   = sum_i w_i s_ij (1[h(j) = h] ((log C_ij + E_ih) / lambda_h - E_ih) + s_ih E_ih)

for sigma or pi element p on X2 column c through agent variable v (a node or demographic, times the coefficient in
lognormal columns), and d delta / d theta = -(ds / d delta)^-1 ds / d theta.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from blp.configurations.solve_options import Iteration
from blp.estimation.parameters import NonlinearValues
from blp.model.contraction import RandomCoefficients, Utilities
from blp.model.per_market import solve_per_market
from blp.model.squarem import Contraction, squarem
from blp.primitives.products import Layout

ALL_NESTS = -1  # a rho parameter shared by every nest


@dataclass(frozen=True)
class NestedUtilities(Utilities):
    """Utilities with nests: `scaled` is exp((mu - r) / lambda) and `peak` r per nest (T x H x I); `outside` and
    `extended` are unused (the outside good enters through the inclusive values)."""

    lambdas: np.ndarray           # H       1 - rho per nest
    lambdas_products: np.ndarray  # T x J   1 - rho of each product's nest (1 where padded)


class NestedRandomCoefficients(RandomCoefficients):
    """RCNL demand: random coefficients with products in H nests (rho per nest, or one rho for all)."""

    def __init__(self, layout: Layout, X2: np.ndarray, weights: np.ndarray, nodes: np.ndarray,
                 demographics: np.ndarray, nest_codes: np.ndarray, H: int,
                 log_columns: np.ndarray | None = None) -> None:
        super().__init__(layout, X2, weights, nodes, demographics, log_columns)
        self.H = H
        self.codes = layout.pad(nest_codes.astype(float)).astype(np.intp)  # T x J (0 where padded)
        self.member = (self.codes[:, None, :] == np.arange(H)[None, :, None]) & self.mask[:, None, :]  # T x H x J

    def lambdas(self, rho: np.ndarray) -> np.ndarray:
        """1 - rho per nest (H) from rho (H x 1, or 1 x 1 for all nests)."""
        per_nest = rho[:, 0] if rho.shape[0] == self.H else np.repeat(rho[0, 0], self.H)
        return 1 - per_nest

    def prepare(self, values: NonlinearValues) -> NestedUtilities:
        lambdas = self.lambdas(values.rho)
        lambdas_products = np.where(self.mask, lambdas[self.codes], 1.0)
        coefficients = self.coefficients(values.sigma, values.pi)
        mu = self.X2 @ coefficients.transpose(0, 2, 1)
        if not self.full:
            mu[~self.mask] = -np.inf
        peak = np.stack([np.where(self.member[:, h, :, None], mu, -np.inf).max(axis=1) for h in range(self.H)], axis=1)
        peak = np.where(np.isfinite(peak), peak, 0.0)  # T x H x I (0 for nests empty in a market)
        mu -= np.take_along_axis(peak, np.broadcast_to(self.codes[:, :, None], mu.shape), axis=1)
        mu /= lambdas_products[:, :, None]
        np.exp(mu, out=mu)
        return NestedUtilities(coefficients, mu, peak, np.zeros(0), np.zeros(0), lambdas, lambdas_products)

    # ---------------------------------------------------------------- shares
    def _view(self, utilities: Utilities, log_observed: np.ndarray) -> tuple:
        """The arrays one nested contraction step reads, per market, then the per-nest lambdas."""
        assert isinstance(utilities, NestedUtilities)
        return (utilities.scaled, utilities.peak, self.weights, self.mask, log_observed, self.member, self.codes,
                utilities.lambdas_products, utilities.lambdas)

    def solve_delta(self, utilities: Utilities, log_observed: np.ndarray, start: np.ndarray,
                    iteration: Iteration) -> Contraction:
        """PyBLP's nested contraction, SQUAREM-accelerated by the numpy driver over every market at once (market by
        market when the iteration asks for what only the per-market loop does: `per_market`)."""
        step = NestedStep(self._view(utilities, log_observed))
        return squarem(step, start, iteration) if iteration.compiled else solve_per_market(step, start, iteration)

    @staticmethod
    def _nested_parts(view: tuple, delta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                                                 np.ndarray]:
        """exp((delta - c) / lambda) (T x J), D (T x H x I), s_ih (T x H x I), w_i s_ih / D_ih (T x H x I) and
        (delta - c) / lambda (T x J)."""
        scaled, peak, weights, mask, _, member, codes, lambdas_products, lambdas = view
        top = np.where(member, delta[:, None, :], -np.inf).max(axis=2)  # T x H
        top = np.where(np.isfinite(top), top, 0.0)
        exponents = (delta - np.take_along_axis(top, codes, axis=1)) / lambdas_products
        inside = np.where(mask, np.exp(exponents), 0.0)
        totals = (member * inside[:, None, :]) @ scaled  # T x H x I
        with np.errstate(divide='ignore', invalid='ignore'):
            inclusive = top[:, :, None] + peak + lambdas[None, :, None] * np.log(totals)  # -inf for empty nests
            reduction = np.maximum(inclusive.max(axis=1), 0.0)
            exponentiated = np.exp(inclusive - reduction[:, None, :])
            marginals = exponentiated / (np.exp(-reduction) + exponentiated.sum(axis=1))[:, None, :]
            ratio = np.where(totals > 0, weights[:, None, :] * marginals / totals, 0.0)
        return inside, totals, marginals, ratio, exponents

    def nested_probabilities(self, utilities: NestedUtilities, delta: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                                           np.ndarray]:
        """s_ij (T x J x I), s_ij|h (T x J x I) and s_ih (T x H x I)."""
        view = self._view(utilities, np.zeros_like(delta))
        inside, totals, marginals, _, _ = self._nested_parts(view, np.where(self.mask, delta, 0.0))
        index = np.broadcast_to(self.codes[:, :, None], utilities.scaled.shape)
        with np.errstate(divide='ignore', invalid='ignore'):
            conditionals = utilities.scaled * inside[:, :, None] / np.take_along_axis(totals, index, axis=1)
        conditionals = np.where(self.mask[:, :, None], np.nan_to_num(conditionals), 0.0)
        return conditionals * np.take_along_axis(marginals, index, axis=1), conditionals, marginals

    def probabilities(self, utilities: Utilities, delta: np.ndarray, markets: np.ndarray | None = None) -> np.ndarray:
        """Individual choice probabilities (T x J x I), or only in `markets` (computed in all, then selected)."""
        assert isinstance(utilities, NestedUtilities)
        probabilities = self.nested_probabilities(utilities, delta)[0]
        return probabilities if markets is None else probabilities[markets]

    # ---------------------------------------------------------------- d delta / d theta
    def delta_jacobian(self, utilities: Utilities, delta: np.ndarray, variables: np.ndarray, columns: np.ndarray,
                       rho_nests: np.ndarray | None = None) -> np.ndarray:
        """d delta / d theta (T x J x P) for sigma and pi elements (`variables`, `columns`) followed by rho elements,
        each the nest it belongs to (`rho_nests`, ALL_NESTS for one rho shared by every nest)."""
        assert isinstance(utilities, NestedUtilities)
        probabilities, conditionals, marginals = self.nested_probabilities(utilities, delta)
        lambdas, lambdas_products = utilities.lambdas, utilities.lambdas_products
        rho_products = 1 - lambdas_products
        member = self.member.astype(float)
        weighted = probabilities * self.weights[:, None, :]
        shares = weighted.sum(axis=2)
        same_nest = member.transpose(0, 2, 1) @ member
        by_delta = -(weighted @ probabilities.transpose(0, 2, 1))
        by_delta -= (rho_products / lambdas_products)[:, :, None] * same_nest * (weighted @
                                                                                  conditionals.transpose(0, 2, 1))
        np.einsum('tjj->tj', by_delta)[...] += np.where(self.mask, shares / lambdas_products, 1.0)

        parts = []
        if columns.size:
            variables = self.coefficient_derivatives(utilities.coefficients, variables, columns)
            X = self.X2[:, :, columns]                                                          # T x J x P'
            mean_x = (X.transpose(0, 2, 1) @ probabilities).transpose(0, 2, 1)                 # T x I x P'
            within_x = np.einsum('thj,tji,tjp->thip', member, conditionals, X, optimize=True)  # T x H x I x P'
            own_within = np.einsum('thj,tji,tip,thip->tjp', member, weighted, variables, within_x, optimize=True)
            parts.append(X / lambdas_products[:, :, None] * (weighted @ variables)
                         - (rho_products / lambdas_products)[:, :, None] * own_within
                         - weighted @ (variables * mean_x))
        if rho_nests is not None and len(rho_nests):
            with np.errstate(divide='ignore', invalid='ignore'):
                log_conditionals = np.where(conditionals > 0, np.log(conditionals), 0.0)
            entropy = -(member @ (conditionals * log_conditionals))                              # T x H x I
            own = member.transpose(0, 2, 1)                                                      # T x J x H
            by_rho = own * ((weighted * log_conditionals).sum(axis=2)[:, :, None] / lambdas
                            + (1 / lambdas - 1) * (weighted @ entropy.transpose(0, 2, 1)))
            by_rho += weighted @ (marginals * entropy).transpose(0, 2, 1)
            parts.append(np.stack([by_rho.sum(axis=2) if nest == ALL_NESTS else by_rho[:, :, nest]
                                   for nest in rho_nests], axis=2))
        by_theta = np.concatenate(parts, axis=2) if parts else np.zeros(delta.shape + (0,))
        return -np.linalg.solve(by_delta, by_theta)


class NestedStep:
    """One step of the nested contraction on a block of markets, delta + lambda (log s - log s(delta))."""

    def __init__(self, view: tuple) -> None:
        self.view = view
        self.mask = view[3]

    def select(self, markets: np.ndarray) -> 'NestedStep':
        return NestedStep((*(array[markets] for array in self.view[:-1]), self.view[-1]))

    def __call__(self, delta: np.ndarray) -> np.ndarray:
        scaled, observed, codes, lambdas_products = self.view[0], self.view[4], self.view[6], self.view[7]
        _, _, _, ratio, exponents = NestedRandomCoefficients._nested_parts(self.view, delta)
        by_nest = scaled @ ratio.transpose(0, 2, 1)  # T x J x H
        log_shares = exponents + np.log(np.take_along_axis(by_nest, codes[:, :, None], axis=2)[:, :, 0])
        return np.where(self.mask, delta + lambdas_products * (observed - log_shares), 0.0)
