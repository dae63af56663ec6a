r"""The dependent variables of the linear moment blocks, y(theta), and their Jacobians dy/dtheta.

Demand: y = delta - X1_theta beta_theta, where X1_theta are the X1 columns whose beta is optimized over rather than
concentrated out (a supply side's price coefficient); dy/dtheta = d delta/d theta, and -x_k for beta_k.

Supply: y = c~ = c or log c with c = p - eta clipped to `costs_bounds`, and Bertrand-Nash markups eta = Delta^-1 S,
Delta = -H * (ds/dp)', ds_k/dp_j = sum_i w_i alpha_i s_ik (1[k=j] - s_ij), alpha_i = beta_prices + the agent's random
coefficient on prices. dy/dtheta = -(1 / c)^[log] (d eta/d theta + d eta/d delta d delta/d theta) from
`blp.supply.markups` (zero where a cost was clipped). With nests (nested logit, RCNL) the share derivatives are the nested
ones and rho is a direction of its own (`blp.supply.markups.nested_eta_by_theta`); with lognormal coefficients
(rc_types 'log') a parameter on a log column moves the agent's coefficient by its variable times the coefficient, so
the directions are scaled at each theta. A nonpositive cost under log costs has no logarithm: the block raises
a SpecificationError naming the product (at the starting values that is the answer; inside the optimizer the
estimator treats it like an inner-loop failure and reverts, as PyBLP does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

import numpy as np
import pandas as pd

from blp.configurations.budget import DEFAULT_CHUNK_BYTES, markets_per_chunk, supply_bytes_per_market
from blp.configurations.formulation import column_slope
from blp.estimation.moments import BlockOutput, DemandState
from blp.estimation.parameters import (
    BetaParameter,
    GammaParameter,
    Parameters,
    PiParameter,
    RhoParameter,
    SigmaParameter,
)
from blp.exceptions import SpecificationError
from blp.model.choices import logit
from blp.supply import costs as cost_functions
from blp.supply.bertrand import FactoredDelta, capital_delta, factor_delta, ownership_matrices, solve_delta_system
from blp.supply.markups import (
    Directions,
    NestedChoices,
    OwnershipFactors,
    eta_by_theta,
    nested_eta_by_theta,
    nested_price_jacobian,
    ownership_factors,
)

if TYPE_CHECKING:  # a back-reference for the type checker only
    from blp.configurations.solve_options import SolveOptions
    from blp.estimation.problem import Problem
    from blp.model.demand import DemandModel


@dataclass(frozen=True)
class DemandDependent:
    """delta minus the X1 columns whose beta is in theta (or fixed), each times its value."""

    X1: np.ndarray                       # N x K1 before fixed effects are absorbed
    beta_columns: tuple[tuple[int, int], ...]  # (theta index, X1 column) of betas in theta

    @classmethod
    def of(cls, problem: Problem, parameters: Optional[Parameters]) -> 'DemandDependent':
        columns = () if parameters is None else tuple(
            (index, p.location[0]) for index, p in enumerate(parameters.unfixed) if isinstance(p, BetaParameter))
        return cls(problem.X1_raw, columns)

    def __call__(self, state: DemandState, with_jacobian: bool) -> BlockOutput:
        beta = state.values.beta[:, 0] if state.values.beta.size else np.zeros(0)
        known = np.flatnonzero(np.isfinite(beta) & (beta != 0))
        y = state.delta - self.X1[:, known] @ beta[known] if known.size else state.delta
        if not with_jacobian:
            return BlockOutput(y, None)
        jacobian = state.delta_jacobian
        if self.beta_columns:
            jacobian = jacobian.copy()
            for index, column in self.beta_columns:
                jacobian[:, index] -= self.X1[:, column]
        return BlockOutput(y, jacobian)


@dataclass(frozen=True)
class SupplyDependent:
    """Transformed marginal costs implied by Bertrand-Nash pricing at the demand side's state."""

    model: DemandModel
    prices: np.ndarray              # T x J padded
    shares: np.ndarray              # T x J observed, padded
    ownership: np.ndarray           # T x J x J
    ownership_factors: OwnershipFactors  # H = L R', for d eta/d theta (factored once: ownership is fixed)
    product_ids: Optional[np.ndarray]  # T x J padded, for messages
    costs_type: str
    costs_bounds: Any
    price_column: Optional[int]     # X2 column linear in prices
    price_slope: float              # its slope in prices (-1 for I(-prices))
    price_beta: Optional[int]       # theta index of beta on prices (prices in X1)
    directions: Directions          # how each theta element moves utilities and price coefficients
    log_columns: np.ndarray         # P: the X2 column a sigma or pi element moves when it is lognormal, else -1
    rho_moves: np.ndarray           # T x J x P: d rho_j / d theta_p (1 for the products of a rho's nests)
    chunks: tuple[slice, ...] = (slice(None),)  # blocks of markets evaluated at once (`blp.configurations.budget`)
    X3: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # N x K3 before absorbing, for gamma in theta
    gamma_columns: tuple[tuple[int, int], ...] = ()  # (theta index, X3 column) of gammas in theta

    @classmethod
    def of(cls, problem: Problem, model: DemandModel, parameters: Optional[Parameters],
           options: Optional[SolveOptions]) -> 'SupplyDependent':
        layout, frame = problem.products.layout, problem.products.frame
        if 'prices' not in frame.columns:
            raise SpecificationError('a supply side needs a prices column in product_data', parameter='X3')
        # prices enter X1 as the column prices, X2 as one column linear in prices (`prices`, `I(-prices)`, PyBLP's
        # Petrin tutorial): its slope scales the agents' price coefficients
        X2_slopes = [(column, slope) for column, label in enumerate(problem.X2_labels)
                     if (slope := column_slope(label, 'prices')) is not None]
        others = [label for label in problem.X1_labels if label != 'prices' and 'prices' in label]
        if others or len(X2_slopes) > 1 or any(slope == 0 for _, slope in X2_slopes):
            wrong = others[0] if others else problem.X2_labels[X2_slopes[-1][0]]
            raise SpecificationError(f'with a supply side, prices must enter X1 as the column prices and X2 in one '
                                     f'column linear in prices (prices, I(-prices)), not {wrong!r}', parameter='X3')
        unfixed = [] if parameters is None else parameters.unfixed
        price_beta = next((index for index, p in enumerate(unfixed) if isinstance(p, BetaParameter)
                           and problem.X1_labels[p.location[0]] == 'prices'), None)
        if 'prices' in problem.X1_labels and price_beta is None:
            raise SpecificationError("with a supply side the coefficient on prices in X1 cannot be concentrated out: "
                                     "give beta a nonzero starting value for prices (None for the other columns), "
                                     "as PyBLP requires", parameter='beta')
        supply = problem.supply
        assert supply is not None  # a supply dependent is made only for a problem with X3
        costs_bounds = options.costs_bounds if options is not None else None
        cost_functions.bounds(costs_bounds)  # refuse bad bounds before anything is solved
        if supply.ownership is not None:
            ownership = layout.pad(supply.ownership)[:, :, :layout.width]
        else:
            firms = layout.pad(pd.factorize(pd.Series(supply.firm_ids, dtype=object))[0].astype(float), fill=-1)
            ownership = ownership_matrices(firms, layout.mask)
        product_ids = problem.products.product_ids
        padded_ids = None
        if product_ids is not None:
            padded_ids = np.full(layout.mask.shape, '', dtype=object)
            padded_ids[layout.market_index, layout.position] = product_ids
        price_column, price_slope = X2_slopes[0] if X2_slopes else (None, 1.0)
        T, J = layout.mask.shape
        I = model.agent_weights.shape[1]
        X2 = model.random.X2 if model.random is not None else np.zeros((T, J, 0))
        nodes = model.agents.nodes if model.agents is not None else np.zeros((T, I, 0))
        demographics = model.agents.demographics if model.agents is not None else np.zeros((T, I, 0))
        characteristics, agent_values = np.zeros((T, J, len(unfixed))), np.zeros((T, I, len(unfixed)))
        moves_price = np.zeros(len(unfixed), dtype=bool)
        price_slopes = np.ones(len(unfixed))
        log_columns = np.full(len(unfixed), -1, dtype=np.intp)
        rho_moves = model.rho_moves(parameters) if parameters is not None else np.zeros((T, J, 0))
        for index, parameter in enumerate(unfixed):
            if isinstance(parameter, RhoParameter):
                continue
            if isinstance(parameter, (SigmaParameter, PiParameter)):
                k = parameter.location[0]
                if problem.rc_types[k] == 'log':
                    log_columns[index] = k
                characteristics[:, :, index] = X2[:, :, k]
                agent_values[:, :, index] = parameter.agent_variable(nodes, demographics)
                moves_price[index] = k == price_column
                price_slopes[index] = price_slope if k == price_column else 1.0
            elif index == price_beta:
                agent_values[:, :, index] = 1.0
                moves_price[index] = True
            elif parameter.moves_delta:  # phi moves neither utilities nor prices: its column stays zero
                raise SpecificationError(f'{parameter.label} with a supply side is not supported yet',
                                         parameter=parameter.label)
        chunk_bytes = options.chunk_bytes if options is not None else DEFAULT_CHUNK_BYTES
        size = markets_per_chunk(supply_bytes_per_market(J, I, len(unfixed)), chunk_bytes)
        return cls(model, layout.pad(frame['prices'].to_numpy(dtype=float)), layout.pad(problem.products.shares),
                   ownership, ownership_factors(ownership), padded_ids, supply.costs_type, costs_bounds,
                   price_column, price_slope, price_beta,
                   Directions(characteristics, agent_values, moves_price, model.in_choice_units(price_slopes)),
                   log_columns, rho_moves,
                   (slice(None),) if size >= T else
                   tuple(slice(start, min(start + size, T)) for start in range(0, T, size)),
                   supply.X3_raw, tuple((index, p.location[0]) for index, p in enumerate(unfixed)
                                        if isinstance(p, GammaParameter)))

    def _slopes(self, state: DemandState) -> np.ndarray:
        """Agents' price coefficients (T x I) at the state, in choice units (divided by a scaled logit error's e, as
        the directions' X2 and price slopes are: `blp.model.demand`)."""
        model = self.model
        alpha = 0.0 if self.price_beta is None else float(state.theta[self.price_beta])
        slopes = np.full(model.agent_weights.shape, alpha)
        if model.random is not None and self.price_column is not None:
            slopes = slopes + self.price_slope * model.coefficients(state.values)[:, :, self.price_column]
        return model.in_choice_units(slopes)

    def _probabilities(self, state: DemandState, markets: slice) -> np.ndarray:
        """Agents' choice probabilities in a block of markets (markets x J x I) at the state."""
        model = self.model
        if model.random is None:  # one agent of weight one: the model's logit kernel on delta (over e)
            utilities = model.utilities(model.layout.pad(state.delta), state.values)[markets]
            return logit(utilities, model.agent_weights[markets], overwrite=True).probabilities
        whole = markets == slice(None)
        return model.probabilities(state.inversion, state.values,
                                   None if whole else np.arange(model.layout.T)[markets])

    def _nested_choices(self, state: DemandState, markets: slice, slopes: np.ndarray) -> NestedChoices:
        """Agents' nested choices in a block of markets at the state (nested logit: one agent on delta)."""
        model = self.model
        nests = model.nests(state.values.rho)
        assert nests is not None
        index = np.arange(model.layout.T)[markets]
        choices = model.nested_choices(model.layout.pad(state.delta), state.values, index)
        nests = nests.restrict(index)
        assert choices.conditionals is not None
        return NestedChoices(choices.probabilities, choices.conditionals, choices.weights, slopes[index],
                             nests.rho_products, nests.same_nest)

    def markups(self, state: DemandState, markets: slice = slice(None), slopes: Optional[np.ndarray] = None
                ) -> tuple[np.ndarray, 'np.ndarray | FactoredDelta', Any]:
        """eta (markets x J), Delta (markets x J x J, factored when that pays: `factor_delta`) and the choices they
        were computed from (probabilities, weights and price coefficients; `NestedChoices` with nests), in a block of
        markets (all by default)."""
        slopes = self._slopes(state) if slopes is None else slopes
        mask = self.model.layout.mask[markets]
        choices: Any
        if self.model.H:
            choices = self._nested_choices(state, markets, slopes)
            jacobian = nested_price_jacobian(choices)
        else:
            probabilities = self._probabilities(state, markets)
            choices = (probabilities, self.model.agent_weights[markets], slopes[markets])
            weighted = probabilities * (choices[1] * choices[2])[:, None, :]
            jacobian = -(weighted @ probabilities.transpose(0, 2, 1))
            np.einsum('tjj->tj', jacobian)[...] += weighted.sum(axis=2)
        Delta = factor_delta(capital_delta(jacobian, self.ownership[markets], mask))  # eta and d eta share it
        eta = solve_delta_system(Delta, np.where(mask, self.shares[markets], 0.0)[:, :, None])[:, :, 0]
        return eta, Delta, choices

    def _directions(self, state: DemandState) -> Directions:
        """The directions at the state: a parameter on a lognormal column moves the agent's coefficient by its
        variable times the coefficient (d exp(x)/dx = exp(x))."""
        directions, logged = self.directions, self.log_columns >= 0
        if not logged.any():
            return directions
        coefficients = self.model.coefficients(state.values)
        agent_values = directions.agent_values.copy()
        agent_values[:, :, logged] *= coefficients[:, :, self.log_columns[logged]]
        return Directions(directions.characteristics, agent_values, directions.moves_price, directions.price_slopes)

    def __call__(self, state: DemandState, with_jacobian: bool) -> BlockOutput:
        """Costs and, when asked, their Jacobian, a block of markets (`chunks`) at a time: each block needs only its
        own probabilities and J x J matrices, so memory follows the chunk budget, not the number of markets."""
        layout, directions = self.model.layout, self._directions(state)
        eta = np.zeros(layout.mask.shape)
        total = np.zeros(layout.mask.shape + (directions.P,)) if with_jacobian else None
        delta_jacobian = None
        if with_jacobian:  # in choice units, as the directions (`_slopes`)
            delta_jacobian = self.model.in_choice_units(layout.pad(state.delta_jacobian)) if \
                state.delta_jacobian.size else np.zeros(layout.mask.shape + (directions.P,))
        slopes, factors = self._slopes(state), self.ownership_factors
        for markets in self.chunks:
            eta[markets], Delta, choices = self.markups(state, markets, slopes)
            if total is None or delta_jacobian is None:
                continue
            block = Directions(directions.characteristics[markets], directions.agent_values[markets],
                               directions.moves_price, directions.price_slopes)
            if isinstance(choices, NestedChoices):
                total[markets] = nested_eta_by_theta(choices, self.ownership[markets], eta[markets], Delta, block,
                                                     self.rho_moves[markets], delta_jacobian[markets])
            else:
                probabilities, weights, chunk_slopes = choices
                chunk_factors = OwnershipFactors(factors.left[markets], factors.right_t[markets])
                total[markets] = eta_by_theta(probabilities, weights, chunk_slopes, chunk_factors, eta[markets], Delta,
                                              block, delta_jacobian[markets])
        costs = cost_functions.marginal_costs(self.prices, eta, layout.mask, self.costs_type, self.costs_bounds)
        cost_functions.check_log_costs(costs, layout.markets, self.product_ids)
        details = {'costs': layout.unpad(costs.costs), 'markups': layout.unpad(eta),
                   'clipped_costs': costs.clipped_count, 'clipped': layout.unpad(costs.clipped)}
        y = self._less_known_gamma(state, layout.unpad(costs.transformed))
        if total is None:
            return BlockOutput(y, None, details)
        jacobian = layout.unpad(cost_functions.omega_by_theta(total, costs, self.costs_type))
        for index, column in self.gamma_columns:  # d omega / d gamma_k = -x3_k
            jacobian[:, index] -= self.X3[:, column]
        return BlockOutput(y, jacobian, details)

    def _less_known_gamma(self, state: DemandState, tilde_costs: np.ndarray) -> np.ndarray:
        """c~ minus the X3 columns whose gamma is in theta (or fixed), each times its value."""
        gamma = state.values.gamma[:, 0] if state.values.gamma.size else np.zeros(0)
        known = np.flatnonzero(np.isfinite(gamma) & (gamma != 0))
        return tilde_costs - self.X3[:, known] @ gamma[known] if known.size else tilde_costs
