"""The demand model that estimation and post-estimation share: logit, nested logit or random coefficients.

Estimation asks it for delta(theta) (the closed-form inversion for logit and nested logit, the contraction for
random coefficients) and d delta / d theta; post-estimation asks it for full utilities V = delta + mu, agents'
coefficients and nests, then applies the choice kernels of `blp.model.choices`. Agents' coefficients on X2 are
computed in one place (`coefficients`), so a new coefficient type changes one method.

PyBLP's `epsilon_scale` e scales the logit error: agents choose by (delta + mu) / e. The model keeps delta in V's
units outside and works in choice units inside, in this one place: its kernel sees X2 / e (so mu / e), its
contraction starts from delta / e and returns e times its solution, d delta / d theta is e times the kernel's, and
`utilities` are (delta + mu) / e. Whatever else moves utilities by delta or by slopes in V's units (supply-side
markups, post-estimation, micro moments and scores) converts them with `in_choice_units`.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Optional

import numpy as np

from blp.configurations.solve_options import Iteration
from blp.estimation.parameters import NonlinearValues, Parameters, RhoParameter
from blp.exceptions import DataError, SpecificationError
from blp.model.choices import Choices, Nests, nested_logit
from blp.model.contraction import RandomCoefficients, Utilities
from blp.model.nested_contraction import ALL_NESTS, NestedRandomCoefficients
from blp.primitives.products import Agents, Layout


@dataclass(frozen=True)
class Inversion:
    """delta solved at one theta, with what the Jacobian and the next warm start reuse."""

    delta: np.ndarray                  # N
    padded: Optional[np.ndarray]       # T x J  (random coefficients: the contraction's solution)
    evaluations: np.ndarray            # T      contraction evaluations per market (zero in closed form)
    iterations: np.ndarray             # T      its major iterations (PyBLP's fixed point iterations)
    converged: np.ndarray              # T
    utilities: Optional[Utilities]     # random coefficients: exp(mu - max mu) at this theta


def check_epsilon_scale(epsilon_scale: Any, H: int) -> float:
    """A positive scale, and 1 with nests (PyBLP's rules)."""
    if isinstance(epsilon_scale, bool) or not isinstance(epsilon_scale, (int, float)) or \
            not np.isfinite(epsilon_scale) or epsilon_scale <= 0:
        raise SpecificationError('epsilon_scale must be a positive number', parameter='epsilon_scale')
    if epsilon_scale != 1 and H:
        raise SpecificationError('epsilon_scale must equal 1 when there are nesting groups (PyBLP neither)',
                                 parameter='epsilon_scale')
    return float(epsilon_scale)


class DemandModel:
    """Demand on padded markets: `random` is the random-coefficients part (None for logit and nested logit; nested
    random coefficients, RCNL, with nests and agents). `log_columns` flags X2 columns whose coefficients are
    lognormal (PyBLP's `rc_types='log'`); `epsilon_scale` scales the logit error (see the module's docstring)."""

    def __init__(self, layout: Layout, shares: np.ndarray, X2: np.ndarray, agents: Optional[Agents],
                 nest_codes: Optional[np.ndarray], H: int, log_columns: Optional[np.ndarray] = None,
                 epsilon_scale: float = 1.0) -> None:
        self.layout, self.agents, self.nest_codes, self.H = layout, agents, nest_codes, H
        self.epsilon_scale = check_epsilon_scale(epsilon_scale, H)
        outside = 1 - np.bincount(layout.market_index, weights=shares, minlength=layout.T)
        self.log_shares = np.log(shares)
        self.log_shares_padded = layout.pad(self.log_shares)
        self.logit_delta = self.epsilon_scale * (self.log_shares - np.log(outside)[layout.market_index])
        self.log_within_shares = np.zeros(0)
        if nest_codes is not None:
            group = np.bincount(layout.market_index * H + nest_codes, weights=shares, minlength=layout.T * H)
            self.log_within_shares = self.log_shares - np.log(group[layout.market_index * H + nest_codes])
        # unpadded and in choice units (X2 / e), for kernels on some markets (`restricted`)
        self.X2_rows, self.log_columns = X2 / self.epsilon_scale, log_columns
        self.random: Optional[RandomCoefficients] = None
        if agents is not None:
            self.random = self._kernel(layout, slice(None), np.arange(layout.market_index.size))

    def _kernel(self, layout: Layout, markets: 'slice | np.ndarray', rows: np.ndarray) -> RandomCoefficients:
        """The random-coefficients kernel on the products `rows` (laid out by `layout`) and their `markets`' agents."""
        agents = self.agents
        assert agents is not None
        weights, nodes, demographics = agents.weights[markets], agents.nodes[markets], agents.demographics[markets]
        if self.nest_codes is not None:
            return NestedRandomCoefficients(layout, self.X2_rows[rows], weights, nodes, demographics,
                                            self.nest_codes[rows], self.H, self.log_columns)
        return RandomCoefficients(layout, self.X2_rows[rows], weights, nodes, demographics, self.log_columns)

    def in_choice_units(self, values: np.ndarray) -> np.ndarray:
        """delta, a change of it, its derivatives or a slope of utility, from V's units to the units agents choose by
        (over epsilon_scale): the one place a scaled logit error divides them."""
        return values / self.epsilon_scale

    def restricted(self, markets: 'slice | np.ndarray') -> RandomCoefficients:
        """The random-coefficients kernel on some markets only (a slice or sorted indices of the padded T axis):
        the same per-market math in arrays of those markets, padded to their own largest market."""
        index = np.arange(self.layout.T)[markets]
        rows = np.flatnonzero(np.isin(self.layout.market_index, index))
        layout = Layout.from_ids(self.layout.markets[self.layout.market_index[rows]])
        return self._kernel(layout, markets, rows)

    def probabilities(self, inversion: 'Inversion', values: NonlinearValues,
                      markets: Optional[np.ndarray] = None) -> np.ndarray:
        """Individual choice probabilities (T x J x I, or in `markets`) at the inversion's delta. A chunked inversion
        (`blp.model.chunks`) kept no utilities: they are recomputed on those markets."""
        assert self.random is not None and inversion.padded is not None
        padded = self.in_choice_units(inversion.padded)
        if inversion.utilities is not None:
            return self.random.probabilities(inversion.utilities, padded, markets)
        index = np.arange(self.layout.T) if markets is None else np.asarray(markets)
        unique = np.unique(index)
        kernel = self.restricted(unique)
        width = kernel.layout.width
        computed = kernel.probabilities(kernel.prepare(values), padded[unique, :width])
        probabilities = np.zeros((unique.size, self.layout.width, computed.shape[2]))
        probabilities[:, :width] = computed
        return probabilities[np.searchsorted(unique, index)]

    # ---------------------------------------------------------------- agents
    @property
    def agent_weights(self) -> np.ndarray:
        """T x I integration weights (one agent of weight one without random coefficients)."""
        return np.ones((self.layout.T, 1)) if self.agents is None else self.agents.weights

    @property
    def agent_mask(self) -> np.ndarray:
        return np.ones((self.layout.T, 1), dtype=bool) if self.agents is None else self.agents.layout.mask

    def coefficients(self, values: NonlinearValues) -> np.ndarray:
        """Agent-specific coefficients on X2, Sigma nu + Pi d (T x I x K2), exponentiated in lognormal columns."""
        if self.random is None:
            return np.zeros((self.layout.T, 1, 0))
        return self.random.coefficients(values.sigma, values.pi)

    def parameter_variables(self, parameters: Parameters) -> tuple[np.ndarray, np.ndarray]:
        """For each free element that moves agents' coefficients: the agent variable it multiplies (T x I x P') and
        the X2 column it moves (P')."""
        if self.agents is None:
            return np.zeros((0, 0, 0)), np.zeros(0, dtype=np.intp)
        variables, columns = [], []
        for parameter in parameters.unfixed:
            variable = parameter.agent_variable(self.agents.nodes, self.agents.demographics)
            if variable is not None:
                variables.append(variable)
                columns.append(parameter.location[0])
        shape = (self.agents.weights.shape[0], self.agents.weights.shape[1], 0)
        return (np.stack(variables, axis=2) if variables else np.zeros(shape)), np.array(columns, dtype=np.intp)

    def with_nodes_for(self, sigma: np.ndarray) -> 'DemandModel':
        """PyBLP's rule when agent data have fewer `nodes` columns than X2 has columns: they go, in order, to the
        columns of sigma that have a nonzero element (the others multiply zeros)."""
        if self.agents is None or self.random is None or self.agents.nodes.shape[2] == sigma.shape[0]:
            return self
        nonzero = np.any(sigma != 0, axis=0)
        have, need = self.agents.nodes.shape[2], int(nonzero.sum())
        if have < need:
            raise DataError(f'agent_data has {have} nodes column(s) but sigma has {need} column(s) with a nonzero '
                            f'element: add nodes{have}', column=f'nodes{have}', dataset='agent_data')
        nodes = np.zeros(self.agents.nodes.shape[:2] + (sigma.shape[0],))
        nodes[:, :, nonzero] = self.agents.nodes[:, :, :need]
        model = copy.copy(self)
        model.agents = dataclasses.replace(self.agents, nodes=nodes)
        model.random = copy.copy(self.random)
        model.random.nodes = nodes
        return model

    # ---------------------------------------------------------------- estimation
    def invert(self, values: NonlinearValues, start: np.ndarray, iteration: Iteration) -> Inversion:
        """delta that matches observed shares: closed form without random coefficients, else the contraction from
        `start` (T x J)."""
        T = self.layout.T
        if self.random is None:
            delta = self.logit_delta.copy()
            if self.H:
                rho = values.rho
                delta -= (rho[:, 0][self.nest_codes] if rho.shape[0] > 1 else np.full(delta.size, rho[0, 0])) * \
                    self.log_within_shares
            none = np.zeros(T, dtype=np.int64)
            return Inversion(delta, None, none, none, np.ones(T, dtype=bool), None)
        utilities = self.random.prepare(values)
        contraction = self.random.solve_delta(utilities, self.log_shares_padded, self.in_choice_units(start),
                                               iteration)
        padded = contraction.delta * self.epsilon_scale
        return Inversion(self.layout.unpad(padded), padded, contraction.evaluations, contraction.iterations,
                         contraction.converged, utilities)

    def delta_jacobian(self, inversion: Inversion, parameters: Parameters, variables: np.ndarray,
                       columns: np.ndarray, observed: bool = False) -> tuple[np.ndarray, Optional[np.ndarray]]:
        """d delta / d theta (N x P), and padded (T x J x P) when it came from the contraction (for warm starts);
        `observed`: PyBLP's observed shares on the diagonal of ds/d delta (`RandomCoefficients.delta_jacobian`)."""
        if self.random is None:
            jacobian = np.zeros((self.layout.market_index.size, parameters.P))
            if self.H:
                per_nest = parameters.values.rho.shape[0] > 1
                for index, parameter in enumerate(parameters.unfixed):
                    if not isinstance(parameter, RhoParameter):  # a supply side's price coefficient leaves delta
                        continue
                    in_nest = self.nest_codes == parameter.location[0] if per_nest else True
                    jacobian[:, index] = -self.log_within_shares * in_nest
            return jacobian, None
        assert inversion.utilities is not None and inversion.padded is not None and self.random is not None
        padded = self.epsilon_scale * self.padded_jacobian(
            self.random, inversion.utilities, self.in_choice_units(inversion.padded), parameters, variables, columns,
            self.observed_shares if observed else None)
        return self.layout.unpad(padded), padded

    @cached_property
    def observed_shares(self) -> np.ndarray:
        """The observed shares, padded (T x J, 0 where padded): computed once, as the model's shares never change
        (other shares make another model)."""
        return np.where(self.layout.mask, np.exp(self.log_shares_padded), 0.0)

    @staticmethod
    def padded_jacobian(kernel: RandomCoefficients, utilities: Utilities, delta: np.ndarray, parameters: Parameters,
                        variables: np.ndarray, columns: np.ndarray,
                        observed: Optional[np.ndarray] = None) -> np.ndarray:
        """d delta / d theta (markets x J x P) from `kernel` on its markets, at its padded `delta` (`observed`
        shares on the diagonal of ds/d delta, as PyBLP, in the random-coefficients logit only)."""
        if isinstance(kernel, NestedRandomCoefficients):
            rho_nests = np.array([ALL_NESTS if parameters.values.rho.shape[0] == 1 else parameter.location[0]
                                  for parameter in parameters.unfixed if isinstance(parameter, RhoParameter)],
                                 dtype=np.intp)
            moved = kernel.delta_jacobian(utilities, delta, variables, columns, rho_nests)
        else:
            moved = kernel.delta_jacobian(utilities, delta, variables, columns, observed)
        if moved.shape[2] == parameters.P:
            return moved
        padded = np.zeros(moved.shape[:2] + (parameters.P,))  # elements that do not move mu (beta, phi) leave delta
        padded[:, :, [index for index, p in enumerate(parameters.unfixed) if p.moves_delta]] = moved
        return padded

    def describe(self, values: NonlinearValues) -> str:
        """What to add to a failed contraction's message: rho, which slows the nested contraction near 1."""
        if not self.H or not values.rho.size:
            return ''
        rho = ', '.join(f'{value:.6g}' for value in values.rho[:, 0])
        advice = '; rho near 1 makes the nested contraction crawl: bound it further from 1 (rho_bounds)' \
            if values.rho.max() > 0.95 else ''
        return f' (rho = {rho}{advice})'

    # ---------------------------------------------------------------- post-estimation
    def utilities(self, delta: np.ndarray, values: NonlinearValues) -> np.ndarray:
        """The utilities agents choose by, (delta + mu) / epsilon_scale (T x J x I), at padded `delta`; -inf for
        padded products."""
        scaled = self.in_choice_units(delta[:, :, None])
        if self.random is None:
            utilities = scaled.copy()
        else:
            coefficients = self.coefficients(values)
            utilities = scaled + self.random.X2 @ coefficients.transpose(0, 2, 1)
        utilities[~self.layout.mask] = -np.inf
        return utilities

    def nested_choices(self, delta: np.ndarray, values: NonlinearValues, markets: np.ndarray) -> Choices:
        """Agents' nested choices (with the within-nest conditionals) in `markets` (indices of the padded T axis) at
        padded `delta`: the nested logit kernel on V = delta + mu, computed for those markets only."""
        nests = self.nests(values.rho)
        assert nests is not None
        utilities = delta[markets][:, :, None]
        if self.random is not None:
            coefficients = self.coefficients(values)[markets]
            utilities = utilities + self.random.X2[markets] @ coefficients.transpose(0, 2, 1)
        utilities = np.where(self.layout.mask[markets][:, :, None], utilities, -np.inf)
        return nested_logit(utilities, self.agent_weights[markets], nests.restrict(markets))

    def rho_moves(self, parameters: Parameters) -> np.ndarray:
        """d rho_j / d theta_p (T x J x P): one for the products of the nests a rho element moves (every nest when one
        rho is shared), zero for other elements and without nests."""
        moves = np.zeros(self.layout.mask.shape + (len(parameters.unfixed),))
        nests = self.nests(parameters.values.rho)
        if nests is not None:
            shared = parameters.values.rho.shape[0] == 1
            for index, parameter in enumerate(parameters.unfixed):
                if isinstance(parameter, RhoParameter):
                    moves[:, :, index] = nests.member.any(axis=1) if shared else nests.member[:, parameter.location[0]]
        return moves

    def nests(self, rho: np.ndarray) -> Optional[Nests]:
        """Nest membership in the padded layout with rho per nest (None without nests)."""
        if not self.H or self.nest_codes is None:
            return None
        codes = self.layout.pad(self.nest_codes.astype(float)).astype(np.intp)
        member = (codes[:, None, :] == np.arange(self.H)[None, :, None]) & self.layout.mask[:, None, :]
        per_nest = rho[:, 0] if rho.shape[0] == self.H else np.repeat(rho[0, 0], self.H)
        return Nests(codes, member, per_nest)
