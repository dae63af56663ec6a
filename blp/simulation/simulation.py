"""`Simulation`: PyBLP's simulation of BLP data. Variables the data lack are drawn (`blp.simulation.draws`), agents
come from `agent_data` and/or an `Integration`, and the true parameters make an `Economy` that
`replace_endogenous` solves for equilibrium prices and shares (the core's zeta contraction) and `replace_exogenous`
for one exogenous characteristic per side (the core's delta contraction)."""

from __future__ import annotations

import time
import warnings
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd

from blp import status
from blp.configurations.formulation import Formulation
from blp.configurations.integration import Integration
from blp.configurations.solve_options import Iteration
from blp.estimation.persistence import Lags
from blp.estimation.problem import Problem
from blp.exceptions import NumericalError, SpecificationError
from blp.primitives.products import DataLike, Layout, as_frame, ids_column, require_columns
from blp.simulation.draws import draw_demographics, draw_products, draw_unobservables
from blp.simulation.economy import Economy, linear_vector, true_values
from blp.simulation.records import to_records
from blp.simulation.results import SimulationResults
from blp.simulation.summary import simulation_summary

ERROR_BEHAVIORS = ('raise', 'warn')
EXOGENOUS_ITERATION = Iteration('squarem', {'atol': 1e-14})


class Simulation:
    """Simulated data at true parameters, as `pyblp.Simulation` (same arguments and attributes). `phi` with
    `lag_indices` draws autocorrelated xi and omega (with a supply side, as PyBLP). `epsilon_scale` scales the logit
    error (the problem's: `blp.model.demand`); fixed effects are refused, as PyBLP refuses them in simulations."""

    def __init__(self, product_formulations: Formulation | Sequence[Optional[Formulation]], product_data: DataLike,
                 beta: Any, sigma: Any = None, pi: Any = None, gamma: Any = None, rho: Any = None, phi: Any = None,
                 agent_formulation: Optional[Formulation] = None, agent_data: Optional[DataLike] = None,
                 integration: Optional[Integration] = None, xi: Any = None, omega: Any = None,
                 xi_variance: float = 1, omega_variance: float = 1, correlation: float = 0.9,
                 rc_types: Optional[Sequence[str]] = None, epsilon_scale: float = 1.0, costs_type: str = 'linear',
                 seed: Optional[int] = None) -> None:
        formulations = [product_formulations] if isinstance(product_formulations, Formulation) else \
            list(product_formulations)
        if not 1 <= len(formulations) <= 3 or formulations[0] is None:
            raise SpecificationError('product_formulations must be (X1,), (X1, X2) or (X1, X2, X3)',
                                     parameter='product_formulations')
        formulations += [None] * (3 - len(formulations))
        self.product_formulations = tuple(formulations)
        self.agent_formulation, self.integration = agent_formulation, integration
        self.rc_types, self.costs_type = rc_types, costs_type

        frame = as_frame(product_data, 'product_data')
        require_columns(frame, ['market_ids'], 'product_data')
        layout = Layout.from_ids(ids_column(frame, 'market_ids', 'product_data'))
        state = np.random.RandomState(seed)
        frame = draw_products(frame, formulations, layout.counts[layout.market_index].astype(float), state)
        X2 = formulations[1]
        K2 = len(X2.build(frame, 'X2 formulation').labels) if X2 is not None else 0
        agents = self._agent_frame(agent_data, integration, layout, K2) if X2 is not None else None
        if agents is not None:
            agents = draw_demographics(agents, agent_formulation, state)
        elif agent_formulation is not None or agent_data is not None or integration is not None:
            raise SpecificationError('agent_formulation, agent_data and integration need an X2 formulation',
                                     parameter='agent_formulation')
        N = len(frame)
        lags = Lags.of(frame['lag_indices'].to_numpy(), layout.markets[layout.market_index]) \
            if 'lag_indices' in frame.columns else None
        self.phi = self._phi(phi, lags, 1 + int(formulations[2] is not None))
        if formulations[2] is None:
            if xi is None:
                raise SpecificationError('xi must be given without an X3 formulation (PyBLP draws it only with '
                                         'omega)', parameter='xi')
            xi_values, omega_values = self._unobservable(xi, 'xi', N), np.zeros(0)
        elif xi is None and omega is None:
            xi_values, omega_values = draw_unobservables(N, xi_variance, omega_variance, correlation, state,
                                                         None if lags is None else (self.phi, lags))
        elif xi is None or omega is None:
            raise SpecificationError('xi and omega must be given together (or both drawn)',
                                     parameter='xi' if xi is None else 'omega')
        else:
            xi_values, omega_values = self._unobservable(xi, 'xi', N), self._unobservable(omega, 'omega', N)
        self._frame, self._agents = frame, agents
        self.xi, self.omega = xi_values.reshape(-1, 1), omega_values.reshape(-1, 1)

        self.epsilon_scale = epsilon_scale  # checked by the problem's demand model (`blp.model.demand`)
        problem = self._problem(frame)
        self._base_problem = problem
        self.epsilon_scale = problem.epsilon_scale
        self.beta = linear_vector(beta, problem.X1_labels, 'beta')
        self.gamma = linear_vector(gamma, problem.supply.X3_labels if problem.supply else [], 'gamma')
        self._values = true_values(problem, sigma, pi, rho)
        self.sigma, self.pi, self.rho = self._values.sigma, self._values.pi, self._values.rho
        self.product_data, self.agent_data = to_records(frame), None if agents is None else to_records(agents)
        self.products, self.agents = problem.products, problem.agents

    @staticmethod
    def _phi(phi: Any, lags: Optional[Lags], E: int) -> np.ndarray:
        """PyBLP's phi: E x E (E = 2 with a supply side) with lag_indices, else E x 0; zeros when not given."""
        if lags is None:
            if phi is not None and np.any(np.asarray(phi, dtype=float) != 0):
                raise SpecificationError('phi needs lag_indices in product_data', parameter='phi')
            return np.zeros((E, 0))
        matrix = np.zeros((E, E)) if phi is None else np.asarray(phi, dtype=float)
        if matrix.size != E * E or not np.isfinite(matrix).all():
            raise SpecificationError(f'phi must be a finite {E} x {E} matrix', parameter='phi')
        return matrix.reshape(E, E)

    @staticmethod
    def _unobservable(values: Any, name: str, N: int) -> np.ndarray:
        vector = np.asarray(values, dtype=float).reshape(-1)
        if vector.size != N or not np.isfinite(vector).all():
            raise SpecificationError(f'{name} must have {N} finite values, one per product', parameter=name)
        return vector

    @staticmethod
    def _agent_frame(agent_data: Optional[DataLike], integration: Optional[Integration], layout: Layout,
                     K2: int) -> pd.DataFrame:
        """Agent data with the integration's nodes and weights (which replace any given), market by market."""
        if integration is None:
            if agent_data is None:
                raise SpecificationError('an X2 formulation needs agent_data with nodes and weights, or an '
                                         'integration configuration', parameter='integration')
            return as_frame(agent_data, 'agent_data')
        node_list, weight_list = integration.build_markets(K2, layout.markets)
        sizes = [len(weights) for weights in weight_list]
        built = pd.DataFrame({'market_ids': np.repeat(layout.markets, sizes),
                              **{f'nodes{k}': np.concatenate(node_list)[:, k] for k in range(K2)},
                              'weights': np.concatenate(weight_list)})
        if agent_data is None:
            return built
        frame = as_frame(agent_data, 'agent_data')
        require_columns(frame, ['market_ids'], 'agent_data')
        frame = frame.drop(columns=[c for c in frame.columns if str(c) == 'weights' or str(c).startswith('nodes')])
        ids = ids_column(frame, 'market_ids', 'agent_data')
        for t, market in enumerate(layout.markets):
            if int((ids == market).sum()) != sizes[t]:
                raise SpecificationError(f'with integration, agent_data needs {sizes[t]} rows in market {market!r}',
                                         parameter='integration.size')
        order = np.argsort(pd.Categorical(ids, categories=layout.markets).codes, kind='stable')
        frame = frame.iloc[order].reset_index(drop=True)
        return pd.concat([frame, built.drop(columns='market_ids')], axis=1)

    def _problem(self, frame: pd.DataFrame) -> Problem:
        """The economy's matrices and agents at `frame` (no instruments: a simulation has none)."""
        with warnings.catch_warnings(), status.quiet():
            warnings.simplefilter('ignore')  # collinearity and identification warnings concern estimation
            return Problem(self.product_formulations, frame, self.agent_formulation, self._agents, None,
                           self.rc_types, self.epsilon_scale, self.costs_type)

    def _economy(self, frame: pd.DataFrame, problem: Optional[Problem] = None) -> Economy:
        return Economy(problem or self._problem(frame), self.beta, self._values, self.xi[:, 0], self.gamma)

    # ---------------------------------------------------------------- PyBLP's attributes
    @property
    def unique_market_ids(self) -> np.ndarray:
        return np.array(sorted(set(self._base_problem.products.market_ids)), dtype=object).reshape(-1, 1)

    def _unique(self, column: str, frame: Optional[pd.DataFrame]) -> np.ndarray:
        if frame is None or column not in frame.columns:
            return np.zeros((0, 1), dtype=object)
        return np.array(sorted(set(frame[column])), dtype=object).reshape(-1, 1)

    unique_firm_ids = property(lambda self: self._unique('firm_ids', self._frame))
    unique_nesting_ids = property(lambda self: self._unique('nesting_ids', self._frame))
    unique_product_ids = property(lambda self: self._unique('product_ids', self._frame))
    unique_agent_ids = property(lambda self: self._unique('agent_ids', self._agents))
    T = property(lambda self: self._base_problem.T)
    N = property(lambda self: self._base_problem.N)
    F = property(lambda self: len(self.unique_firm_ids))
    I = property(lambda self: 0 if self._agents is None else len(self._agents))  # noqa: E741 - PyBLP's name
    K1 = property(lambda self: self._base_problem.K1)
    K2 = property(lambda self: self._base_problem.K2)
    K3 = property(lambda self: self._base_problem.K3)
    D = property(lambda self: self._base_problem.D)
    H = property(lambda self: self._base_problem.H)
    MD = MS = MC = ED = ES = 0  # instruments come with `to_problem`; simulations absorb no fixed effects

    def __repr__(self) -> str:
        """PyBLP's dimensions, formulations and true values tables (`blp.simulation.summary`)."""
        return simulation_summary(self)

    # ---------------------------------------------------------------- costs
    def _costs(self, frame: pd.DataFrame, problem: Problem) -> np.ndarray:
        """c = X3 gamma + omega (its exponential with log costs) at `frame` (N)."""
        if problem.supply is None:
            raise SpecificationError('costs must be given without an X3 formulation', parameter='costs')
        transformed = problem.supply.X3 @ self.gamma[:, 0] + self.omega[:, 0]
        return np.exp(transformed) if self.costs_type == 'log' else transformed

    # ---------------------------------------------------------------- solving
    def replace_endogenous(self, costs: Any = None, prices: Any = None, iteration: Optional[Iteration] = None,
                           constant_costs: bool = True, compute_gradients: bool = True, compute_hessians: bool = True,
                           error_behavior: str = 'raise') -> SimulationResults:
        """Prices and shares in Bertrand-Nash equilibrium at the true parameters: p <- c + zeta(p) from `prices`
        (default: the costs) in every market, the core's zeta contraction (`blp.post.equilibrium`). With shares in
        X3 and `constant_costs=False` costs move with the shares at each step, and come back at the new shares."""
        started = time.perf_counter()
        _check_error_behavior(error_behavior)
        problem = self._base_problem
        economy = self._economy(self._frame, problem)
        cost_values = self._costs(self._frame, problem) if costs is None else \
            self._unobservable(costs, 'costs', self.N)
        start = cost_values if prices is None else self._unobservable(prices, 'prices', self.N)
        equilibrium = economy.solve_equilibrium(costs=cost_values, prices=start,
                                                iteration=iteration or Iteration('simple', {'atol': 1e-12}),
                                                constant_costs=constant_costs)
        layout = problem.products.layout
        moving = economy._share_costs(constant_costs)
        if moving is not None:
            cost_values = layout.unpad(moving.update(layout.pad(cost_values), equilibrium.shares, np.arange(self.T)))
        failed = [str(layout.markets[t]) for t in np.flatnonzero(~equilibrium.converged)]
        _report(failed, 'equilibrium prices', error_behavior)
        frame = self._frame.copy()
        frame['prices'], frame['shares'] = layout.unpad(equilibrium.prices), layout.unpad(equilibrium.shares)
        frame = frame[['prices', 'shares', *[c for c in frame.columns if c not in ('prices', 'shares')]]]
        solved = self._economy(frame)
        return SimulationResults(self, solved, frame, cost_values, equilibrium.converged, equilibrium.iterations,
                                 time.perf_counter() - started, compute_gradients, compute_hessians)

    def replace_exogenous(self, X1_name: str, X3_name: Optional[str] = None, delta: Any = None,
                          iteration: Optional[Iteration] = None, fp_type: str = 'safe_linear',
                          shares_bounds: Any = (1e-300, None), error_behavior: str = 'raise') -> SimulationResults:
        """Keep prices and shares and move one exogenous characteristic per side instead: v in X1 by
        (delta - xi - X1 beta) / beta_v, delta solving the share equations (the core's contraction), and with a
        supply side w in X3 by (c~ - omega - X3 gamma) / gamma_w, c~ the costs the prices imply."""
        started = time.perf_counter()
        _check_error_behavior(error_behavior)
        if fp_type not in ('safe_linear', 'linear'):
            raise SpecificationError("fp_type must be 'safe_linear' or 'linear'", parameter='fp_type')
        problem = self._base_problem
        v = _column_index(problem.X1_labels, X1_name, 'X1_name')
        _only_in(X1_name, 'X1_name', 0, self.product_formulations)
        model = problem.model
        layout = problem.products.layout
        start = model.layout.pad(model.logit_delta) if delta is None else \
            layout.pad(self._unobservable(delta, 'delta', self.N))
        inversion = model.invert(self._values, start, iteration or EXOGENOUS_ITERATION)
        failed = [str(layout.markets[t]) for t in np.flatnonzero(~inversion.converged)]
        _report(failed, 'the delta contraction', error_behavior)
        frame = self._frame.copy()
        residual = inversion.delta - self.xi[:, 0] - problem.X1 @ self.beta[:, 0]
        frame[X1_name] = frame[X1_name].to_numpy(dtype=float) + residual / self.beta[v, 0]
        costs = None
        if problem.supply is not None:
            if X3_name is None:
                raise SpecificationError('with a supply side, X3_name names the cost characteristic to replace',
                                         parameter='X3_name')
            w = _column_index(problem.supply.X3_labels, X3_name, 'X3_name')
            _only_in(X3_name, 'X3_name', 2, self.product_formulations)
            implied = self._economy(frame).compute_costs()[:, 0]
            transformed = np.log(implied) if self.costs_type == 'log' else implied
            cost_residual = transformed - self.omega[:, 0] - problem.supply.X3 @ self.gamma[:, 0]
            frame[X3_name] = frame[X3_name].to_numpy(dtype=float) + cost_residual / self.gamma[w, 0]
            costs = implied
        solved = self._economy(frame)
        if costs is None:
            costs = np.full(self.N, np.nan)
        return SimulationResults(self, solved, frame, costs, inversion.converged, inversion.iterations,
                                 time.perf_counter() - started, False, False, inversion.evaluations)


def _column_index(labels: list[str], name: str, parameter: str) -> int:
    if labels.count(name) != 1:
        raise SpecificationError(f'{name!r} must be exactly one untransformed column of the formulation '
                                 f'({", ".join(labels)})', parameter=parameter)
    return labels.index(name)


def _only_in(name: str, parameter: str, index: int, formulations: Sequence[Optional[Formulation]]) -> None:
    """Refuse a characteristic to replace that another formulation reads too (it would move that side as well)."""
    for other, formulation in enumerate(formulations):
        if other != index and formulation is not None and name in formulation.column_names():
            raise SpecificationError(f'{parameter} {name!r} must appear only in the X{index + 1} formulation, not '
                                     f'in X{other + 1}', parameter=parameter)


def _check_error_behavior(error_behavior: str) -> None:
    if error_behavior not in ERROR_BEHAVIORS:
        raise SpecificationError("error_behavior must be 'raise' or 'warn'", parameter='error_behavior')


def _report(failed: list[str], what: str, error_behavior: str) -> None:
    if not failed:
        return
    message = f'{what} did not converge in {len(failed)} market(s): {", ".join(failed[:10])}'
    if error_behavior == 'raise':
        raise NumericalError(message, markets=failed)
    warnings.warn(message, RuntimeWarning, stacklevel=3)


__all__ = ['Simulation', 'SimulationResults']
