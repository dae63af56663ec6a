"""Choice probabilities at the estimates and at any other prices: the demand model post-estimation is built on.

Utilities V_ijt = delta_jt + mu_ijt come from the demand model (`blp.model`) once; a characteristic x that enters
utility linearly moves them by (x' - x)_jt a_it, where a_it = dV_ijt / dx_jt is agent i's coefficient on x (beta,
plus the agent's random coefficient when x is also in X2); it does not depend on j. Choices at any utilities are the
model's logit or nested logit kernels.

Every array is padded (market x product x agent) and every function works on all markets at once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

import numpy as np

from blp.configurations.formulation import column_slope
from blp.exceptions import SpecificationError
from blp.model.choices import Choices, Nests, logit, nested_logit

if TYPE_CHECKING:  # a back-reference for the type checker only
    from blp.estimation.results import ProblemResults
    from blp.model.demand import DemandModel


def linear_coefficient(name: str, beta_labels: list[str], beta: np.ndarray,
                       X2_labels: list[str]) -> tuple[float, list[tuple[int, float]]]:
    """How `name` moves utility: sum_k beta_k dx1_k/d name, and each X2 column's d x2_k / d name (`(column, slope)`,
    e.g. -1 for `I(-prices)`); refuses characteristics that enter non-linearly, whose utility derivatives would depend
    on the product (and would need the formula's derivative)."""
    X1_slopes = [column_slope(label, name) for label in beta_labels]
    X2_slopes = [(column, slope) for column, label in enumerate(X2_labels)
                 if (slope := column_slope(label, name)) is not None]
    if all(slope is None for slope in X1_slopes) and not X2_slopes:
        raise SpecificationError(f'{name!r} is not a column of X1 or X2', parameter='name')
    value = float(sum(slope * beta[index] for index, slope in enumerate(X1_slopes) if slope is not None))
    return value, X2_slopes


@dataclass(frozen=True)
class DemandAtEstimates:
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
    epsilon_scale: float = 1.0    # utilities are V / epsilon_scale (PyBLP's scaled logit error), so are slopes

    @classmethod
    def from_results(cls, results: ProblemResults, model: Optional[DemandModel] = None) -> 'DemandAtEstimates':
        """At the estimates with the problem's agents, or with those of `model` (the same products, other agents).
        With a scaled logit error the model's utilities are (delta + mu) / e, and every slope (beta, agents'
        coefficients) is divided by e here; delta stays in V's units."""
        problem = results.problem
        model, layout = model or results.demand_model, problem.products.layout
        values = results.nonlinear_values
        delta = layout.pad(results.delta[:, 0])
        observed = results._column('prices')  # a bootstrap draw's own prices, if it has them
        prices = None if observed is None else layout.pad(observed)
        return cls(model.utilities(delta, values), delta, layout.mask, model.agent_weights, model.agent_mask,
                   model.in_choice_units(model.coefficients(values)), tuple(results.beta_labels),
                   model.in_choice_units(results.beta[:, 0]), tuple(problem.X2_labels), model.nests(values.rho),
                   prices, model.epsilon_scale)

    @property
    def T(self) -> int:
        return self.mask.shape[0]

    def restrict(self, index: np.ndarray) -> 'DemandAtEstimates':
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
        beta, columns = linear_coefficient(name, list(self.beta_labels), self.beta, list(self.X2_labels))
        slopes = np.full(self.weights.shape, 0.0 if random_only else beta)
        for column, slope in columns:  # agents' coefficients, lognormal ones included (exp(Sigma nu + Pi d))
            slopes = slopes + slope * self.coefficients[:, :, column]
        return slopes

    def shifted(self, change: np.ndarray, slopes: np.ndarray, utilities: Optional[np.ndarray] = None) -> np.ndarray:
        """Utilities after x moves by `change` (T x J, zero where padded)."""
        moved = change[:, :, None] * slopes[:, None, :]
        moved += self.utilities if utilities is None else utilities
        return moved

    def delta_moved(self, change: np.ndarray, utilities: Optional[np.ndarray] = None) -> np.ndarray:
        """Utilities after delta moves by `change` (T x J, zero where padded): by the change over epsilon_scale."""
        base = self.utilities if utilities is None else utilities
        return base + change[:, :, None] / self.epsilon_scale

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
            return logit(utilities, self.weights, overwrite)
        return nested_logit(utilities, self.weights, self.nests)

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

    def hessians(self, choices: Choices, slopes: np.ndarray) -> np.ndarray:
        """d2 s_j / dx_k dx_l (T x J x J x J, zero where padded) of the mixed logit: with m1_j = sum_i w_i a_i^2 s_ij,
        m2_jk = sum_i w_i a_i^2 s_ij s_ik and m3_jkl likewise, H_jkl = 1[j=k=l] m1_j - m2_jk (1[j=l] + 1[k=l])
        - m2_jl 1[j=k] + 2 m3_jkl; nested logit: `nested_hessians`."""
        if self.nests is not None:
            return self.nested_hessians(choices, slopes)
        probabilities = choices.probabilities
        scaled = probabilities * (choices.weights * slopes ** 2)[:, None, :]
        m2 = scaled @ probabilities.transpose(0, 2, 1)
        hessians = 2 * np.einsum('tji,tki,tli->tjkl', scaled, probabilities, probabilities)
        identity = np.eye(probabilities.shape[1])
        hessians += np.einsum('tj,jk,jl->tjkl', scaled.sum(axis=2), identity, identity)
        hessians -= np.einsum('tjk,jl->tjkl', m2, identity) + np.einsum('tjk,kl->tjkl', m2, identity)
        hessians -= np.einsum('tjl,jk->tjkl', m2, identity)
        return hessians

    def nested_hessians(self, choices: Choices, slopes: np.ndarray) -> np.ndarray:
        """d2 s_j / dx_k dx_l of the (random-coefficients) nested logit, market by market (J x J x J per agent):
        with g_jk = d log s_ij / dV_ik = q_j 1[j=k] - r_j N_jk s_ik|h - s_ik (q = 1 / (1 - rho), r = rho q, N: same
        nest), d2 s_ij / dV_k dV_l = s_ij (g_jk g_jl + dg_jk / dV_l), weighted by w_i a_i^2 and summed."""
        nests = self.nests
        assert nests is not None and choices.conditionals is not None
        rho = nests.rho_products
        q, same = 1 / (1 - rho), nests.same_nest
        r = rho * q
        T, J, _ = choices.probabilities.shape
        identity = np.eye(J)[:, :, None]
        hessians = np.zeros((T, J, J, J))
        for t in range(T):
            s, c = choices.probabilities[t], choices.conditionals[t]
            weights = choices.weights[t] * slopes[t] ** 2
            within = (r[t][:, None] * same[t])[:, :, None]
            g = q[t][:, None, None] * identity - within * c[None] - s[None]
            conditional = q[t][:, None, None] * (identity - same[t][:, :, None] * c[None]) * c[:, None, :]
            dg = -within[:, :, None] * conditional[None] - (s[:, None, :] * g)[None]
            hessians[t] = np.einsum('ji,jki,jli,i->jkl', s, g, g, weights) + np.einsum('ji,jkli,i->jkl', s, dg,
                                                                                       weights)
        return hessians

    def consumer_surpluses(self, choices: Choices) -> np.ndarray:
        """Each agent's surplus in money (T x I): expected utility log(1 + sum exp V) over the agent's price
        coefficient, with no income effects (PyBLP's formula); NaN for padded agents. With a scaled logit error
        PyBLP sums exp V, not exp V / e, over a slope divided by e: so here, V recovered from the probabilities."""
        inclusive = choices.log_inclusive
        if self.epsilon_scale != 1:
            with np.errstate(divide='ignore'):
                V = self.epsilon_scale * (np.log(choices.probabilities) - np.log(choices.outside)[:, None, :])
            peak = np.maximum(V.max(axis=1), 0.0)
            inclusive = peak + np.log(np.exp(-peak) + np.exp(V - peak[:, None, :]).sum(axis=1))
        with np.errstate(divide='ignore', invalid='ignore'):
            surpluses = inclusive / -self.slopes('prices')
        return np.where(self.agent_mask, surpluses, np.nan)
