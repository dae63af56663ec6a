"""Choice probabilities at the estimates and at any other prices: the demand model post-estimation is built on.

Utilities V_ijt = delta_jt + mu_ijt are built once, padded products at -inf so nobody chooses them. A characteristic
x that enters utility linearly moves them by (x' - x)_jt a_it, where a_it = dV_ijt / dx_jt is agent i's coefficient
on x (beta, plus the agent's random coefficient when x is also in X2); it does not depend on j. Logit is a single
agent of weight one. Nested logit scales utilities by 1 / (1 - rho) within nests, with PyBLP's conventions.

Every array is padded (market x product x agent) and every function works on all markets at once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from blp.exceptions import SpecificationError


def linear_coefficient(name: str, beta_labels: list[str], beta: np.ndarray,
                       X2_labels: list[str]) -> tuple[float, Optional[int]]:
    """beta on `name` and the X2 column of `name`; refuses characteristics that enter non-linearly, whose utility
    derivatives would depend on the product (and would need the formula's derivative)."""
    labels = list(beta_labels) + list(X2_labels)
    others = [label for label in labels if label != name and name in label.replace('(', ' ').replace(')', ' ')
              .replace(':', ' ').replace('*', ' ').split()]
    if others:
        raise SpecificationError(f'{name!r} enters non-linearly ({others[0]!r}); derivatives with respect to it '
                                 f'are not supported', parameter='name')
    if name not in labels:
        raise SpecificationError(f'{name!r} is not a column of X1 or X2', parameter='name')
    value = float(beta[list(beta_labels).index(name)]) if name in beta_labels else 0.0
    column = list(X2_labels).index(name) if name in X2_labels else None
    return value, column


@dataclass(frozen=True)
class Choices:
    """What agents choose at one set of utilities."""

    probabilities: np.ndarray           # T x J x I  s_ijt, zero for padded or removed products
    outside: np.ndarray                 # T x I      s_i0t
    conditionals: Optional[np.ndarray]  # T x J x I  s_ij|h within the nest (nested logit only)
    log_inclusive: np.ndarray           # T x I      log(1 + sum exp V) (over nests' inclusive values when nested)
    weights: np.ndarray                 # T x I

    @property
    def shares(self) -> np.ndarray:
        return (self.probabilities @ self.weights[:, :, None])[:, :, 0]


@dataclass(frozen=True)
class Nests:
    """Nest membership in the padded layout, with rho per nest."""

    codes: np.ndarray   # T x J nest of each product (0 where padded)
    member: np.ndarray  # T x H x J
    rho: np.ndarray     # H

    @property
    def rho_products(self) -> np.ndarray:
        """rho of each product's nest (T x J)."""
        return self.rho[self.codes] * self.member.any(axis=1)

    @property
    def same_nest(self) -> np.ndarray:
        """T x J x J: whether products j and k share a nest."""
        member = self.member.astype(float)
        return member.transpose(0, 2, 1) @ member

    def restrict(self, index: np.ndarray) -> 'Nests':
        return Nests(self.codes[index], self.member[index], self.rho)


@dataclass(frozen=True)
class ChoiceModel:
    """Demand at the estimates: utilities, agents and the coefficients that say how utilities move."""

    utilities: np.ndarray     # T x J x I  V at the estimates, -inf for padded products
    delta: np.ndarray         # T x J
    mask: np.ndarray          # T x J   real (not padded) products
    weights: np.ndarray       # T x I
    agent_mask: np.ndarray    # T x I   real (not padded) agents
    coefficients: np.ndarray  # T x I x K2  agent-specific coefficients on X2
    beta_labels: tuple
    beta: np.ndarray          # K1
    X2_labels: tuple
    nests: Optional[Nests]
    prices: Optional[np.ndarray]  # T x J  the prices V was estimated at (None without a prices column)

    @classmethod
    def from_results(cls, results: Any) -> 'ChoiceModel':
        problem = results.problem
        layout = problem.products.layout
        mask = layout.mask
        delta = layout.pad(results.delta[:, 0])
        if problem.demand is None:
            weights, agent_mask = np.ones((layout.T, 1)), np.ones((layout.T, 1), dtype=bool)
            coefficients = np.zeros((layout.T, 1, 0))
            utilities = delta[:, :, None].copy()
        else:
            weights, agent_mask = problem.agents.weights, problem.agents.layout.mask
            coefficients = problem.demand.coefficients(results.sigma, results.pi)
            utilities = delta[:, :, None] + problem.demand.X2 @ coefficients.transpose(0, 2, 1)
        utilities[~mask] = -np.inf
        nests = None
        if problem.H:
            codes = layout.pad(problem.nest_codes.astype(float)).astype(np.intp)
            member = (codes[:, None, :] == np.arange(problem.H)[None, :, None]) & mask[:, None, :]
            rho = results.rho[:, 0] if results.rho.shape[0] == problem.H else np.repeat(results.rho[0, 0], problem.H)
            nests = Nests(codes, member, rho)
        frame = problem.products.frame
        prices = layout.pad(frame['prices'].to_numpy(dtype=float)) if 'prices' in frame.columns else None
        return cls(utilities, delta, mask, weights, agent_mask, coefficients, tuple(results.beta_labels),
                   results.beta[:, 0], tuple(problem.X2_labels), nests, prices)

    @property
    def T(self) -> int:
        return self.mask.shape[0]

    def restrict(self, index: np.ndarray) -> 'ChoiceModel':
        """The same model in a subset of markets (a copy of their arrays)."""
        return dataclasses.replace(
            self, utilities=self.utilities[index], delta=self.delta[index], mask=self.mask[index],
            weights=self.weights[index], agent_mask=self.agent_mask[index], coefficients=self.coefficients[index],
            nests=None if self.nests is None else self.nests.restrict(index),
            prices=None if self.prices is None else self.prices[index])

    # ---------------------------------------------------------------- how utilities move
    def slopes(self, name: Optional[str], random_only: bool = False) -> np.ndarray:
        """a_it = dV_ijt / dx_jt for each agent (T x I); x = delta when `name` is None. `random_only` leaves out
        beta: how mu alone moves, for when delta is given rather than moved."""
        if name is None:
            return np.ones(self.weights.shape)
        beta, column = linear_coefficient(name, list(self.beta_labels), self.beta, list(self.X2_labels))
        slopes = np.full(self.weights.shape, 0.0 if random_only else beta)
        if column is not None:
            slopes = slopes + self.coefficients[:, :, column]
        return slopes

    def shifted(self, change: np.ndarray, slopes: np.ndarray, utilities: Optional[np.ndarray] = None) -> np.ndarray:
        """Utilities after x moves by `change` (T x J, zero where padded)."""
        moved = change[:, :, None] * slopes[:, None, :]
        moved += self.utilities if utilities is None else utilities
        return moved

    def at_prices(self, prices: np.ndarray, slopes: Optional[np.ndarray] = None) -> np.ndarray:
        """Utilities at other prices (T x J); `slopes` are the agents' price coefficients if already known."""
        slopes = self.slopes('prices') if slopes is None else slopes
        return self.shifted(np.where(self.mask, prices - self.prices, 0.0), slopes)

    def without(self, removed: np.ndarray, utilities: Optional[np.ndarray] = None) -> np.ndarray:
        """Utilities with the `removed` products (T x J booleans) taken out of the choice set."""
        base = self.utilities if utilities is None else utilities
        return np.where(removed[:, :, None], -np.inf, base)

    # ---------------------------------------------------------------- choices
    def choose(self, utilities: Optional[np.ndarray] = None, overwrite: bool = False) -> Choices:
        """Choices at the estimates or at other utilities; `overwrite` lets the logit reuse their memory."""
        if utilities is None:
            utilities, overwrite = self.utilities, False
        if self.nests is None:
            return _logit(utilities, self.weights, overwrite)
        return _nested_logit(utilities, self.weights, self.nests)

    def jacobian_parts(self, choices: Choices, slopes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lambda (T x J) and Gamma (T x J x J) with ds_j/dx_k = Lambda_j 1[j = k] - Gamma_jk (Morrow and Skerlos):
        Lambda_j = sum_i w_i s_ij a_i and Gamma_jk = sum_i w_i s_ij s_ik a_i, plus the within-nest terms."""
        weighted = choices.probabilities * (choices.weights * slopes)[:, None, :]
        Lambda = weighted.sum(axis=2)
        Gamma = choices.probabilities @ weighted.transpose(0, 2, 1)
        if self.nests is not None:
            rho = self.nests.rho_products
            Lambda = Lambda / (1 - rho)
            Gamma += (rho / (1 - rho))[:, :, None] * self.nests.same_nest * (choices.conditionals @
                                                                              weighted.transpose(0, 2, 1))
        return Lambda, Gamma

    def jacobian(self, choices: Choices, slopes: np.ndarray) -> np.ndarray:
        """ds_j / dx_k (T x J x J, zero where padded)."""
        Lambda, Gamma = self.jacobian_parts(choices, slopes)
        jacobian = -Gamma
        np.einsum('tjj->tj', jacobian)[...] += Lambda
        return jacobian

    def consumer_surpluses(self, choices: Choices) -> np.ndarray:
        """Each agent's surplus in money (T x I): expected utility log(1 + sum exp V) over the agent's price
        coefficient, with no income effects (PyBLP's formula); NaN for padded agents."""
        with np.errstate(divide='ignore', invalid='ignore'):
            surpluses = choices.log_inclusive / -self.slopes('prices')
        return np.where(self.agent_mask, surpluses, np.nan)


def _logit(utilities: np.ndarray, weights: np.ndarray, overwrite: bool = False) -> Choices:
    """s_ij = exp V_ij / (1 + sum_k exp V_ik), scaled by each agent's largest utility (at least zero)."""
    reduction = np.maximum(utilities.max(axis=1), 0.0)
    probabilities = np.subtract(utilities, reduction[:, None, :], out=utilities if overwrite else None)
    np.exp(probabilities, out=probabilities)
    outside = np.exp(-reduction)
    denominator = outside + probabilities.sum(axis=1)
    probabilities /= denominator[:, None, :]
    return Choices(probabilities, outside / denominator, None, reduction + np.log(denominator), weights)


def _nested_logit(utilities: np.ndarray, weights: np.ndarray, nests: Nests) -> Choices:
    """s_ij = s_ij|h s_ih with s_ij|h = exp(V_ij / (1 - rho_h)) / D_ih and s_ih = D_ih^(1 - rho_h) / (1 + sum_g
    D_ig^(1 - rho_g)), computed in logs so that neither sum overflows."""
    rho = nests.rho_products
    scaled = utilities / (1 - rho)[:, :, None]
    member = nests.member
    by_nest = np.where(member[:, :, :, None], scaled[:, None, :, :], -np.inf)  # T x H x J x I
    peak = by_nest.max(axis=2)                                                 # T x H x I
    peak = np.where(np.isfinite(peak), peak, 0.0)
    codes = np.broadcast_to(nests.codes[:, :, None], scaled.shape)
    exponentiated = np.exp(scaled - np.take_along_axis(peak, codes, axis=1))
    totals = member.astype(float) @ exponentiated                              # T x H x I
    with np.errstate(divide='ignore', invalid='ignore'):
        conditionals = np.nan_to_num(exponentiated / np.take_along_axis(totals, codes, axis=1))
        inclusive = (1 - nests.rho)[None, :, None] * (peak + np.log(totals))   # -inf for empty nests
    reduction = np.maximum(inclusive.max(axis=1), 0.0)
    exponentiated_inclusive = np.exp(inclusive - reduction[:, None, :])
    outside = np.exp(-reduction)
    denominator = outside + exponentiated_inclusive.sum(axis=1)
    marginals = exponentiated_inclusive / denominator[:, None, :]
    probabilities = conditionals * np.take_along_axis(marginals, codes, axis=1)
    return Choices(probabilities, outside / denominator, conditionals, reduction + np.log(denominator), weights)
