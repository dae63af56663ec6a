"""The estimation problem: data and formulations turned into matrices once, then `solve` runs GMM over theta."""

from __future__ import annotations

import copy
import time
from typing import Any, Callable, Optional, Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from blp import options as blp_options
from blp import status
from blp.configurations.formulation import Formulation
from blp.configurations.integration import Integration
from blp.configurations.parallel import workers
from blp.configurations.solve_options import SolveOptions
from blp.estimation.covariance import CovarianceBlock
from blp.estimation.dependents import DemandDependent, SupplyDependent
from blp.estimation.estimator import Estimation, restore
from blp.estimation.moments import LinearBlock, MomentStack
from blp.estimation.parameters import Parameters, random_coefficient_types
from blp.estimation.persistence import Lags, Persistence, moment_types
from blp.estimation.results import ProblemResults
from blp.estimation.summary import problem_summary
from blp.exceptions import DataError, SpecificationError, warn
from blp.model import DemandModel
from blp.primitives.absorb import Absorber, absorb_codes, absorbed_ids
from blp.primitives.columns import (
    collinear_columns,
    collinearity_warning,
    numbered_columns,
    numbering_warning,
    pyblp_order,
)
from blp.primitives.instruments import with_built_instruments
from blp.primitives.products import (
    Agents,
    DataLike,
    Layout,
    Products,
    as_frame,
    check_weights,
    load_products,
    nodes_columns,
    numeric_column,
    order_agents,
)
from blp.supply.data import SupplyData, build_supply


class Problem:
    """A BLP problem, as `pyblp.Problem(product_formulations, product_data, agent_formulation, agent_data,
    integration)`: X1 (linear, may absorb fixed effects), optional X2 (random coefficients) and demographics.

    Logit when there is no X2; nested logit when product data have `nesting_ids` and there is no X2; random
    coefficients nested logit (RCNL) with both. `rc_types` ('linear' or 'log' per X2 column, as PyBLP's) makes a
    column's coefficient lognormal, exp(Sigma_k nu + Pi_k d). `epsilon_scale` e scales the logit error, agents
    choosing by (delta + mu) / e (PyBLP's; 1 with nests), handled by the demand model (`blp.model.demand`).
    """

    def __init__(self, product_formulations: Formulation | Sequence[Optional[Formulation]], product_data: DataLike,
                 agent_formulation: Optional[Formulation] = None, agent_data: Optional[DataLike] = None,
                 integration: Optional[Integration] = None, rc_types: Optional[Sequence[str]] = None,
                 epsilon_scale: float = 1.0, costs_type: str = 'linear') -> None:
        started = time.perf_counter()
        status.output('Initializing the problem ...')
        formulations: list[Optional[Formulation]] = [product_formulations] if isinstance(
            product_formulations, Formulation) else list(product_formulations)
        if not 1 <= len(formulations) <= 3 or formulations[0] is None:
            raise SpecificationError('product_formulations must be (X1,), (X1, X2) or (X1, X2, X3), with X2 None for '
                                     'no random coefficients', parameter='product_formulations')
        formulations += [None] * (3 - len(formulations))
        X1_formulation = formulations[0]
        assert X1_formulation is not None  # refused above
        self.product_formulations: tuple[Formulation, Optional[Formulation], Optional[Formulation]] = (
            X1_formulation, formulations[1], formulations[2])
        self.costs_type = costs_type
        self.agent_formulation, self.integration = agent_formulation, integration
        self.warnings: list[str] = []  # what the data allow but a user should know (e.g. weights not summing to 1)
        self.products: Products = load_products(product_data)
        for note in self.products.warnings:
            warn(note, self.warnings)
        frame, N = self.products.frame, self.products.N

        X1 = formulations[0].build(frame, 'X1 formulation')
        self.X1_labels, self.X1_endogenous = X1.labels, X1.endogenous
        if not X1.labels:
            raise SpecificationError('X1 formulation has no columns', parameter='X1')
        codes = absorb_codes(formulations[0], frame, 'X1')
        if codes:
            status.output('Absorbing demand-side fixed effects ...')
        self.absorber = Absorber(codes)
        self.absorbed_dimensions = len(codes)

        X2_formulation = formulations[1]
        X2 = X2_formulation.build(frame, 'X2 formulation') if X2_formulation is not None else None
        if X2_formulation is not None and X2_formulation.absorb:
            raise SpecificationError('X2 cannot absorb fixed effects', parameter='X2')
        self.X2_labels = X2.labels if X2 is not None else []
        self.X2 = X2.matrix if X2 is not None else np.zeros((N, 0))
        self.rc_types = random_coefficient_types(rc_types, self.X2_labels)

        instruments = numbered_columns(frame, 'demand_instruments')
        self._instrument_warnings: list[str] = []  # about ZD: a problem with other instruments drops them
        warn(numbering_warning(frame, 'demand_instruments', 'product_data'), self._instrument_warnings)
        excluded = np.column_stack([numeric_column(frame, column, 'product_data', self.products.market_ids)
                                    for column in instruments]) if instruments else np.zeros((N, 0))
        exogenous = ~X1.endogenous
        self.ZD_labels = [label for label, keep in zip(X1.labels, exogenous) if keep] + instruments
        raw_X1, raw_ZD = X1.matrix, np.column_stack([X1.matrix[:, exogenous], excluded])
        self.X1_raw = raw_X1
        self.X1, self.ZD = self.absorber(raw_X1), self.absorber(raw_ZD)
        self._ZD_exogenous = int(exogenous.sum())  # ZD's leading columns that are X1's (PyBLP puts them last)
        absorbs = self.absorber.dimensions > 0
        warn(collinearity_warning(self.X1, self.X1_labels, 'X1', absorbs), self.warnings)
        warn(collinearity_warning(self.X2, self.X2_labels, 'X2', False), self.warnings)
        warn(collinearity_warning(self.ZD, self.ZD_labels, 'ZD', absorbs,
                                  pyblp_order(self.MD, self._ZD_exogenous)), self._instrument_warnings)
        self.warnings.extend(self._instrument_warnings)

        nesting = self.products.nesting_ids
        self.nest_labels: list[str] = []
        nest_codes = None
        if nesting is not None:
            nest_codes, nest_values = pd.factorize(pd.Series(nesting, dtype=object), sort=True)
            self.nest_labels = [str(value) for value in nest_values]

        self.demographics_labels: list[str] = []
        self.agents: Optional[Agents] = None
        if X2 is not None:
            self.agents = self._load_agents(agent_formulation, agent_data, integration)
        elif agent_formulation is not None:
            raise SpecificationError('agent_formulation needs an X2 formulation to interact with',
                                     parameter='agent_formulation')
        self.model = DemandModel(self.products.layout, self.products.shares, self.X2, self.agents, nest_codes,
                                 len(self.nest_labels), np.array([kind == 'log' for kind in self.rc_types], dtype=bool),
                                 epsilon_scale)
        self.epsilon_scale = self.model.epsilon_scale
        self.supply: Optional[SupplyData] = None
        if formulations[2] is not None:
            if formulations[2].absorb:
                status.output('Absorbing supply-side fixed effects ...')
            self.supply = build_supply(formulations[2], self.products, costs_type, self.warnings)
        elif numbered_columns(frame, 'covariance_instruments'):
            warn('product_data covariance_instruments are ignored: covariance moments E[xi omega Z_C] need a supply '
                 'side (an X3 formulation), as in PyBLP', self.warnings)
        self.lags = Lags.of(frame['lag_indices'].to_numpy(), self.products.market_ids) \
            if 'lag_indices' in frame.columns else None
        self.phi_labels = [] if self.lags is None else ['Xi'] + (['Omega'] if self.supply is not None else [])
        self.products = self._recorded(self.products)
        self.moments = self._moments()
        self._initialized(started)

    def _initialized(self, started: float) -> None:
        """PyBLP's closing status lines of a problem's initialization: the time taken and the problem's summary."""
        status.output(f'Initialized the problem after {status.elapsed(started)}.')
        if blp_options.verbose:
            status.output('')
            status.output(str(self))

    def _recorded(self, products: Products) -> Products:
        """`products` recording this problem's matrices as PyBLP's `problem.products` does."""
        frame = products.frame
        matrices = {'X1': self.X1, 'X2': self.X2, 'ZD': self.ZD,
                    'demand_ids': absorbed_ids(self.product_formulations[0], frame)}
        orders = dict(zip(('ZD', 'ZS'), self.instrument_orders()))
        if self.lags is not None:
            matrices['lag_indices'] = self.lags.indices[:, None]
        if self.supply is not None:
            supply, X3_formulation = self.supply, self.product_formulations[2]
            assert X3_formulation is not None
            matrices.update(X3=supply.X3, ZS=supply.ZS, ZC=supply.ZC, supply_ids=absorbed_ids(X3_formulation, frame))
        variables: list[str] = []
        for formulation in self.product_formulations:
            if formulation is not None:
                variables += [name for name in formulation.variables() if name not in variables]
        return products.with_matrices(tuple(variables), orders, **matrices)

    def instrument_orders(self) -> list[list[int]]:
        """Each side's instrument columns (ZD's, then with a supply side ZS's) in PyBLP's order: ours has the
        exogenous characteristics first, PyBLP the excluded instruments."""
        return [pyblp_order(self.MD, self._ZD_exogenous)] + (
            [pyblp_order(self.MS, self.supply.ZS_exogenous)] if self.supply is not None else [])

    def _moments(self, parameters: Optional[Parameters] = None, options: Optional[SolveOptions] = None,
                 model: Optional[DemandModel] = None) -> MomentStack:
        """The moment blocks for a solve: demand (ZD'xi) and, with X3 and the solve's parameters, supply (ZS'omega)
        and, with covariance instruments, the covariance restrictions (ZC'(xi omega - m)). Linear parameters that
        `parameters` optimizes over (a supply side's price coefficient) leave the demand block's IV step."""
        concentrated = np.ones(self.K1, dtype=bool) if parameters is None else parameters.concentrated_beta
        demand = LinearBlock('demand', self.X1[:, concentrated], self.ZD,
                             [label for label, keep in zip(self.X1_labels, concentrated) if keep], self.ZD_labels,
                             self.absorber, DemandDependent.of(self, parameters))
        persistence = None if parameters is None or options is None else self._persistence(parameters, options)
        if self.supply is None or parameters is None:  # the supply block needs the solve's parameters
            return MomentStack([demand], persistence)
        supply, kept = self.supply, parameters.concentrated_gamma  # gamma in theta leaves the supply IV step
        blocks: list[Any] = [demand, LinearBlock('supply', supply.X3[:, kept], supply.ZS,
                                                 [label for label, keep in zip(supply.X3_labels, kept) if keep],
                                                 supply.ZS_labels, supply.absorber,
                                                 SupplyDependent.of(self, model or self.model, parameters, options))]
        if supply.MC:
            if persistence is not None:
                raise SpecificationError('covariance moments E[xi omega Z_C] with moment types other than levels are '
                                         'not supported (nor by PyBLP 1.3)', parameter='covariance_moments_mean')
            mean = options.covariance_moments_mean if options is not None else None
            blocks.append(CovarianceBlock(supply.ZC, supply.ZC_labels, 0.0 if mean is None else float(mean)))
        return MomentStack(blocks, persistence)

    def _persistence(self, parameters: Parameters, options: SolveOptions) -> Optional[Persistence]:
        """The solve's moment types with the lags that quasi-difference them (None when every side is in levels)."""
        sides = [moment_types(options.demand_moment_types, 'demand', self.MD)] + (
            [moment_types(options.supply_moment_types, 'supply', self.MS)] if self.supply is not None else [])
        orders = self.instrument_orders()  # counts split PyBLP's column order
        groups = tuple((side, kind, tuple(orders[side][start - count:start]))
                       for side, types in enumerate(sides)
                       for (kind, count), start in zip(types, np.cumsum([count for _, count in types])) if count)
        if all(kind == 'levels' for _, kind, _ in groups):
            return None
        differenced = {side for side, kind, _ in groups if kind != 'levels'}
        side = 'demand' if 0 in differenced else 'supply'
        if self.lags is None:
            raise SpecificationError(f'{side}_moment_types other than levels need a lag_indices column in '
                                     f'product_data', parameter=f'{side}_moment_types')
        absorbers = [self.absorber] + ([self.supply.absorber] if self.supply is not None else [])
        if any(absorbers[index].dimensions for index in differenced):
            raise SpecificationError(f'{side}_moment_types other than levels with absorbed fixed effects are not '
                                     f'supported (nor are they by PyBLP)', parameter=f'{side}_moment_types')
        columns = tuple((index, *parameter.location) for index, parameter in enumerate(parameters.unfixed)
                        if parameter.kind == 'phi')
        return Persistence(self.lags, groups, columns)

    def moments_for(self, parameters: Parameters, options: SolveOptions, model: DemandModel) -> MomentStack:
        """The moment stack one solve uses (the problem's own when every beta is concentrated, there is no supply side
        and every moment is in levels). A `covariance_moments_mean` needs covariance moments to apply to (PyBLP would
        ignore it)."""
        if options.covariance_moments_mean is not None and not self.MC:
            needs = 'a supply side (an X3 formulation) and ' if self.supply is None else ''
            raise SpecificationError(f'covariance_moments_mean needs {needs}covariance_instruments columns in '
                                     f'product_data (Z_C of the moments E[(xi omega - mean) Z_C] = 0)',
                                     parameter='covariance_moments_mean')
        if self.supply is None and parameters.concentrated_beta.all() and self._persistence(parameters, options) is None:
            return self.moments
        return self._moments(parameters, options, model)

    def with_agent_data(self, agent_data: DataLike) -> 'Problem':
        """The same problem with other agents (PyBLP's `resample_agent_data`: new nodes and demographics, read as
        the problem's own agent data was); products, formulations and instruments are shared, not copied."""
        if self.agents is None:
            raise SpecificationError('resample_agent_data needs agents: an X2 formulation', parameter='resample_agent_data')
        problem = copy.copy(self)
        problem.warnings = list(self.warnings)
        problem.agents = problem._load_agents(self.agent_formulation, agent_data, None)
        model = self.model
        problem.model = DemandModel(self.products.layout, self.products.shares, self.X2, problem.agents,
                                    model.nest_codes, model.H, model.log_columns, model.epsilon_scale)
        problem.moments = problem._moments()
        return problem

    def with_instruments(self, ZD: np.ndarray, ZD_labels: Optional[Sequence[str]] = None) -> 'Problem':
        """The same problem with other demand instruments (N x MD, before fixed effects are absorbed), as PyBLP
        rebuilds a problem with optimal instruments; data, agents and formulations are shared, not copied."""
        ZD = np.asarray(ZD, dtype=float)
        if ZD.ndim != 2 or ZD.shape[0] != self.N or not np.isfinite(ZD).all():
            raise SpecificationError(f'ZD must be a finite {self.N} x MD matrix', parameter='ZD')
        labels = list(ZD_labels) if ZD_labels is not None else [f'ZD{index}' for index in range(ZD.shape[1])]
        if len(labels) != ZD.shape[1]:
            raise SpecificationError('ZD_labels must name every column of ZD', parameter='ZD_labels')
        problem = copy.copy(self)
        problem.ZD, problem.ZD_labels = self.absorber(ZD), labels
        exogenous = [label for label, endogenous in zip(self.X1_labels, self.X1_endogenous) if not endogenous]
        leading = 0  # X1's exogenous columns at the front, as `to_problem` puts them, go last in PyBLP's order
        while leading < min(len(labels), len(exogenous)) and labels[leading] == exogenous[leading]:
            leading += 1
        problem._ZD_exogenous = leading
        problem._instrument_warnings = []
        warn(collinearity_warning(problem.ZD, labels, 'ZD', self.absorber.dimensions > 0,
                                  pyblp_order(problem.MD, leading)), problem._instrument_warnings)
        problem.warnings = [warning for warning in self.warnings if warning not in self._instrument_warnings] + \
            problem._instrument_warnings
        problem.products = problem._recorded(self.products)
        problem.moments = problem._moments()
        return problem

    def with_agents(self, agent_data: Optional[DataLike] = None, integration: Optional[Integration] = None) -> 'Problem':
        """The same problem with other agents (agent_data and/or integration read as `Problem` reads them), as
        importance sampling re-creates a problem; products, formulations and instruments are shared, not copied."""
        if self.agents is None:
            raise SpecificationError('agents need an X2 formulation: this is a logit or nested logit problem',
                                     parameter='agent_data')
        problem = copy.copy(self)
        problem.warnings = [warning for warning in self.warnings  # those about the old agents go with them
                            if not warning.startswith('agent weights') and 'agent_data' not in warning]
        problem.agents = problem._load_agents(self.agent_formulation, agent_data, integration)
        problem.integration = integration
        model = self.model
        problem.model = DemandModel(self.products.layout, self.products.shares, self.X2, problem.agents,
                                    model.nest_codes, model.H, model.log_columns, model.epsilon_scale)
        problem.moments = problem._moments()
        return problem

    @property
    def K3(self) -> int:
        return 0 if self.supply is None else self.supply.K3

    @property
    def MS(self) -> int:
        return 0 if self.supply is None else self.supply.MS

    @property
    def MC(self) -> int:
        """Covariance instruments (PyBLP's MC), read only with a supply side."""
        return 0 if self.supply is None else self.supply.MC

    @classmethod
    def from_spec(cls, spec: Any, product_data: DataLike, agent_data: Optional[DataLike] = None) -> 'Problem':
        """Build from `blp.spec.ProblemSpec` (or an `EstimateSpec`, whose `.problem` is used)."""
        problem_spec = getattr(spec, 'problem', spec)
        formulations = [None if f is None else Formulation(f.formula, f.absorb)
                        for f in problem_spec.product_formulations]
        agent_formulation = None if problem_spec.agent_formulation is None else Formulation(
            problem_spec.agent_formulation.formula, problem_spec.agent_formulation.absorb)
        integration = None if problem_spec.integration is None else Integration.seeded(
            problem_spec.integration.specification, problem_spec.integration.size, problem_spec.integration.seed)
        product_data = with_built_instruments(getattr(problem_spec, 'instruments', None), product_data)
        return cls(formulations, product_data, agent_formulation, agent_data, integration,
                   rc_types=getattr(problem_spec, 'rc_types', None),
                   epsilon_scale=getattr(problem_spec, 'epsilon_scale', 1.0), costs_type=problem_spec.costs_type)

    @property
    def N(self) -> int:
        return self.products.N

    @property
    def T(self) -> int:
        return self.products.layout.T

    @property
    def K1(self) -> int:
        return self.X1.shape[1]

    @property
    def K2(self) -> int:
        return self.X2.shape[1]

    @property
    def D(self) -> int:
        return len(self.demographics_labels)

    @property
    def MD(self) -> int:
        return self.ZD.shape[1]

    @property
    def H(self) -> int:
        return len(self.nest_labels)

    @property
    def nest_codes(self) -> Optional[np.ndarray]:
        return self.model.nest_codes

    @property
    def F(self) -> int:
        """Firms (PyBLP's F): distinct firm ids, 0 without them."""
        firms = self.products.firm_ids
        return 0 if firms is None else len(np.unique(firms))

    @property
    def I(self) -> int:  # noqa: E743 - PyBLP's name for the number of agents
        """Agents over all markets (PyBLP's I), 0 without random coefficients."""
        return 0 if self.agents is None else int(self.agents.layout.counts.sum())

    @property
    def ED(self) -> int:
        """Fixed-effect dimensions absorbed into X1 and ZD (PyBLP's ED)."""
        return self.absorbed_dimensions

    @property
    def ES(self) -> int:
        """Fixed-effect dimensions absorbed into X3 and ZS (PyBLP's ES)."""
        return 0 if self.supply is None else self.supply.absorber.dimensions

    @property
    def unique_market_ids(self) -> np.ndarray:
        """Market ids sorted, PyBLP's order of market-level outputs (first appearance if they cannot be sorted)."""
        markets = self.products.layout.markets
        try:
            return np.array(sorted(markets), dtype=object)
        except TypeError:
            return markets.copy()

    def __repr__(self) -> str:
        """PyBLP's `Dimensions` and `Formulations` tables (`blp.estimation.summary`)."""
        return problem_summary(self)

    def _load_agents(self, agent_formulation: Optional[Formulation], agent_data: Optional[DataLike],
                     integration: Optional[Integration]) -> Agents:
        layout, K2 = self.products.layout, self.K2
        if agent_data is None:
            if integration is None:
                raise SpecificationError('random coefficients need agents: pass agent_data with nodes0.. and weights, '
                                         'or an integration configuration', parameter='integration')
            if agent_formulation is not None:
                raise SpecificationError('agent_formulation needs agent_data with the demographics',
                                         parameter='agent_formulation')
            node_list, weight_list = integration.build_markets(K2, layout.markets)
            market_ids = np.repeat(layout.markets, [len(w) for w in weight_list])
            agent_layout = Layout.from_ids(market_ids)
            return Agents(agent_layout.pad(np.concatenate(weight_list)), agent_layout.pad(np.concatenate(node_list)),
                          np.zeros((layout.T, agent_layout.width, 0)), agent_layout, None)
        dataset = 'agent_data'
        notes: list[str] = []
        frame, market_ids = order_agents(as_frame(agent_data, dataset, notes), layout, needs_all_markets=True)
        for note in notes:
            warn(note, self.warnings)
        agent_layout = Layout.from_ids(market_ids)
        if integration is not None:
            node_list, weight_list = integration.build_markets(K2, layout.markets)
            built = np.array([len(w) for w in weight_list])
            short = np.flatnonzero(agent_layout.counts < built)
            if short.size:
                raise SpecificationError(
                    f'with integration and agent_data together, every market needs at least as many agent rows as the '
                    f'integration builds ({built[short[0]]}); market {layout.markets[short[0]]!r} has '
                    f'{agent_layout.counts[short[0]]}', parameter='integration.size')
            # As PyBLP: the demographics of each market's first rows go with the built nodes, the rest are dropped.
            kept = agent_layout.position < built[agent_layout.market_index]
            if not kept.all():
                frame, market_ids = frame.loc[kept].reset_index(drop=True), market_ids[kept]
                agent_layout = Layout.from_ids(market_ids)
            nodes, weights = np.concatenate(node_list), np.concatenate(weight_list)
        else:
            if 'weights' not in frame.columns:
                raise DataError("agent_data has no 'weights' column", column='weights', dataset=dataset)
            weights = numeric_column(frame, 'weights', dataset, market_ids)
            self.warnings.extend(check_weights(weights, agent_layout))
            warn(numbering_warning(frame, 'nodes', dataset), self.warnings)
            columns = nodes_columns(frame, K2)
            nodes = np.column_stack([numeric_column(frame, column, dataset, market_ids) for column in columns]) \
                if columns else np.zeros((len(frame), 0))
        if agent_formulation is not None:
            demographics = agent_formulation.build(frame, 'agent formulation')
            if agent_formulation.absorb:
                raise SpecificationError('the agent formulation cannot absorb fixed effects',
                                         parameter='agent_formulation')
            self.demographics_labels = demographics.labels
            demographic_values = demographics.matrix
        else:
            demographic_values = np.zeros((len(frame), 0))
        return Agents(agent_layout.pad(weights), agent_layout.pad(nodes), agent_layout.pad(demographic_values),
                      agent_layout, frame)

    def solve(self, sigma: Optional[ArrayLike] = None, pi: Optional[ArrayLike] = None, rho: Optional[ArrayLike] = None,
              sigma_bounds: Optional[ArrayLike] = None,
              pi_bounds: Optional[ArrayLike] = None, rho_bounds: Optional[ArrayLike] = None, method: str = '2s',
              optimization: Any = None,
              iteration: Any = None, W: Optional[np.ndarray] = None, W_type: str = 'robust', se_type: str = 'robust',
              center_moments: bool = True, scale_objective: bool = True, beta: Any = None, beta_bounds: Any = None,
              costs_bounds: Any = None, initial_update: bool = False,
              progress: Optional[Callable[[dict], None]] = None, micro_moments: Sequence[Any] = (),
              memory_budget_mb: Optional[float] = None, threads: Optional[int] = None, fp_type: str = 'safe_linear',
              shares_bounds: Any = (1e-300, None), error_behavior: str = 'revert', error_punishment: float = 1.0,
              delta_behavior: str = 'first', check_optimality: str = 'both',
              finite_differences: bool = False, covariance_moments_mean: Optional[float] = None,
              phi: Optional[ArrayLike] = None, phi_bounds: Optional[ArrayLike] = None,
              demand_moment_types: Any = 'levels', supply_moment_types: Any = 'levels',
              micro_sample_covariances: Optional[ArrayLike] = None,
              resample_agent_data: Optional[Callable[[int], Any]] = None,
              delta: Optional[ArrayLike] = None, gamma: Any = None, gamma_bounds: Any = None) -> ProblemResults:
        """Estimate by GMM, as `pyblp.Problem.solve`; `progress(info)` is called once per optimizer iteration.

        `micro_moments` (`blp.MicroMoment`): stacked after the aggregate moments; without `W`, W and delta are first
        updated at the starting values (PyBLP's initial update). `memory_budget_mb` bounds the per-market temporaries
        of one evaluation (markets go in chunks that fit); `threads` > 1 evaluates chunks on that many threads (by
        default, those of an enclosing `blp.parallel` block, else one).

        `covariance_moments_mean` (m): with `covariance_instruments` columns in the product data and a supply side, the
        covariance restrictions E[(xi omega - m) Z_C] = 0 (MacKay and Miller) are stacked after the demand and supply
        moments, m = 0 when not given (PyBLP's default). Given without them it is an error (PyBLP ignores it).

        PyBLP's further options, and what each does here:

        - `error_behavior`: where the inner loop fails (or log costs meet a nonpositive cost) during optimization,
          `'revert'` gives the optimizer the last good objective and gradient, `'punish'` an objective of 1 and a zero
          gradient, `'raise'` stops with the markets at fault; `error_punishment` scales the objective given then.
          A failure at the starting values always stops with an error (PyBLP reverts to 1e10 there).
        - `check_optimality`: `'both'` computes the Hessian (PyBLP's central finite differences of the analytic
          gradient, each perturbed contraction started from the step's first delta) for its eigenvalues,
          `'gradient'` skips it.
        - `finite_differences`: the optimizer gets no analytic gradient (SciPy differences the objective); the
          Jacobians of the standard errors stay analytic, which is more precise than PyBLP's differences.
        - `delta_behavior`: `'logit'` starts every contraction at the logit (or nested logit) delta; `'first'` and
          `'last'` both warm-start from the last delta, moved by d delta / d theta (our default, fewer steps).
          Contractions stop at the same tolerance, so the estimates agree to it whichever is chosen.
        - `micro_sample_covariances`: the M_M x M_M covariances of the micro moments (say, bootstrapped from the micro
          data) used in place of those computed at the estimates, in W and the standard errors, as PyBLP.
        - `resample_agent_data(index)`: agent data resampled for index 0, 1, ... until it returns None (at least
          two sets); at each step's estimates the moments' covariance across the sets (simulation error) is added to
          S, hence to the updated W and the standard errors, as PyBLP.
        - `fp_type`: accepted for compatibility and ignored: every PyBLP type defines the same delta(theta), and our
          contraction is the log-linear one with exponentials that cannot overflow, whichever is asked.
        - `shares_bounds`: accepted for compatibility and ignored: our contraction works with log shares computed
          stably, so simulated shares never underflow to zero; bounds only change PyBLP's path, not a fixed point
          whose observed shares lie within them.
        - `delta`: where the first step's first contraction starts (N values; PyBLP's, by default the logit delta).
          Later contractions warm-start as always; `delta_behavior='logit'` ignores it, as PyBLP's.
        - `gamma`, `gamma_bounds`: NaN elements (PyBLP's default) are concentrated out of the supply moments;
          numbers are starting values of elements optimized over in theta, after beta (`blp.estimation.parameters`).
        - `phi`, `phi_bounds` (with product data's `lag_indices`) and `demand_moment_types` / `supply_moment_types`
          (`'levels'`, `'innovations'`, `'differenced_innovations'`, or PyBLP's list of (type, count) tuples):
          persistent unobservables, `blp.estimation.persistence`.
        """
        options = SolveOptions(
            sigma=sigma, pi=pi, rho=rho, sigma_bounds=sigma_bounds, pi_bounds=pi_bounds, rho_bounds=rho_bounds,
            method=method, optimization=optimization, iteration=iteration, W=W, W_type=W_type, se_type=se_type,
            center_moments=center_moments, scale_objective=scale_objective, beta=beta, beta_bounds=beta_bounds,
            costs_bounds=costs_bounds, initial_update=initial_update, micro_moments=micro_moments,
            memory_budget_mb=memory_budget_mb, threads=workers() if threads is None else threads, fp_type=fp_type,
            shares_bounds=shares_bounds,
            error_behavior=error_behavior, error_punishment=error_punishment, delta_behavior=delta_behavior,
            check_optimality=check_optimality, finite_differences=finite_differences,
            covariance_moments_mean=covariance_moments_mean, phi=phi, phi_bounds=phi_bounds,
            demand_moment_types=demand_moment_types, supply_moment_types=supply_moment_types,
            micro_sample_covariances=micro_sample_covariances, resample_agent_data=resample_agent_data, delta=delta,
            gamma=gamma, gamma_bounds=gamma_bounds)
        return self.estimate(options, progress)

    def estimate(self, options: SolveOptions, progress: Optional[Callable[[dict], None]] = None) -> ProblemResults:
        """`solve` with its arguments as one `SolveOptions` (what the service and multi-start pass around)."""
        start = time.perf_counter()
        status.output('Solving the problem ...')
        results = Estimation(self, options, progress).run()
        status.output(f'Computed results after {status.elapsed(start)}.')
        if blp_options.verbose:  # PyBLP's summary of the results closes its log
            status.output('')
            status.output(str(results))
        return results

    def check_solve(self, options: SolveOptions, strict: bool = True) -> list[str]:
        """Validate solve options without solving (shapes, bounds, identification), raising what `solve` would;
        returns the labels of the free nonlinear parameters. `strict` (the service's check) also refuses an
        under-identified model, which `solve` estimates with a warning, as PyBLP."""
        return Estimation(self, options, strict=strict).parameters.labels

    def collinear_instruments_error(self) -> DataError:
        """Why the 2SLS weighting matrix (Z'Z / N)^-1 cannot be computed (PyBLP stops there too): the instrument
        columns collinear with others, in PyBLP's order."""
        matrices = [('ZD', self.ZD, self.ZD_labels, self._ZD_exogenous)]
        if self.supply is not None:
            matrices.append(('ZS', self.supply.ZS, self.supply.ZS_labels, self.supply.ZS_exogenous))
        found: list[tuple[str, str]] = []
        for name, Z, labels, exogenous in matrices:
            order = pyblp_order(len(labels), exogenous)
            found += [(name, labels[index]) for index, flag in zip(order, collinear_columns(Z[:, order])) if flag]
        described = ', '.join(f'{name} column {label!r}' for name, label in found)
        reason = f'{described} collinear with other instrument columns' if found else \
            "instruments nearly collinear (Z'Z is ill-conditioned)"
        with_fe = ' (absorbed fixed effects may be what makes them so)' if self.absorber.dimensions else ''
        return DataError(f"the 2SLS weighting matrix (Z'Z / N)^-1 cannot be computed: {reason}{with_fe}; drop or "
                         f"replace them, or pass W (PyBLP stops here too)", column=found[0][1] if found else None,
                         dataset='product_data')

    def restore(self, stored: dict, micro_moments: Any = ()) -> ProblemResults:
        """Results at a stored estimate (`results.to_document()`) without re-optimizing or recomputing the Hessian; an
        estimate with micro moments needs the same `micro_moments` again (callables are not stored)."""
        return restore(self, stored, micro_moments)
