"""Feasible optimal instruments (Chamberlain 1987; Reynaert and Verboven 2014) as PyBLP's
`ProblemResults.compute_optimal_instruments` and `OptimalInstrumentResults.to_problem`, demand side.

With only a demand side the optimal excluded instruments are

    Z_D^opt = E[d xi / d theta | Z] / Var(xi)        (N x P; Var(xi) is the sample variance, ddof 0)

evaluated at the estimates. The conditional expectation is taken over realizations of xi with prices replaced by
their expected values E[p | Z] (the fitted values of regressing prices on ZD, fixed effects absorbed):

    delta_r = delta - xi + xi_r + (X1(E[p]) - X1(p)) beta,   X2_r = X2(E[p]),   shares s_r = s(delta_r, X2_r)
    d xi_r / d theta = d delta / d theta at (delta_r, X2_r, s_r)   (implicit function theorem, beta held fixed)

`method='approximate'` uses the single realization xi_r = 0; `'normal'` draws xi_r ~ N(0, Var(xi)) and
`'empirical'` resamples the estimated xi with replacement, averaging the Jacobian over `draws` realizations, with
NumPy's `RandomState(seed)` drawn in PyBLP's order so a seed gives PyBLP's draws.

`to_problem()` re-creates the problem with ZD = [exogenous X1, Z_D^opt, the X1 columns of prices at E[p]], as
PyBLP (a just-identified problem). A supply side adds Z_S^opt = E[d omega / d theta] through the inverse of
the joint covariance of (xi, omega), and `to_problem()` adds shifters as PyBLP (`blp.post.optimal_supply`).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional, Sequence

import numpy as np

from blp.configurations.formulation import Formulation
from blp.estimation.parameters import BetaParameter
from blp.exceptions import BLPWarning, DataError, SpecificationError
from blp.model import DemandModel
from blp.model.choices import logit, nested_logit
from blp.model.demand import Inversion
from blp.pickling import Pickled
from blp.post.optimal_supply import supply_instruments, supply_problem
from blp.printing import clock, statistics_table
from blp.serialization import jsonable
from blp.supply.share_costs import reads_shares

if TYPE_CHECKING:  # a back-reference for the type checker only
    from blp.configurations.solve_options import SolveOptions
    from blp.estimation.problem import Problem
    from blp.estimation.results import ProblemResults

METHODS = ('approximate', 'normal', 'empirical')
ATTRIBUTES = ('demand_instruments', 'supply_instruments', 'inverse_covariance_matrix', 'expected_xi_by_theta_jacobian',
              'expected_omega_by_theta_jacobian', 'expected_prices', 'expected_shares', 'computation_time', 'draws',
              'fp_converged', 'fp_iterations', 'contraction_evaluations')  # PyBLP's to_dict


@dataclass
class OptimalInstrumentResults(Pickled):
    """PyBLP's `OptimalInstrumentResults` (demand side): the instruments, what they were computed from, and
    `to_problem()`."""

    problem_results: ProblemResults
    demand_instruments: np.ndarray              # N x P
    supply_instruments: np.ndarray              # N x P with a supply side, else N x 0
    inverse_covariance_matrix: np.ndarray       # 1 x 1: 1 / Var(xi); 2 x 2 with a supply side
    expected_xi_by_theta_jacobian: np.ndarray   # N x P
    expected_prices: Optional[np.ndarray]       # N x 1 (None without prices)
    expected_shares: np.ndarray                 # N x 1
    method: str
    draws: int
    seed: Optional[int]
    computation_time: float
    labels: list[str] = field(default_factory=list)
    expected_omega_by_theta_jacobian: Optional[np.ndarray] = None  # N x P with a supply side
    equilibrium_iterations: Optional[np.ndarray] = None  # T x draws with a supply side: its equilibria's

    def to_problem(self, supply_shifter_formulation: Any = None, demand_shifter_formulation: Any = None,
                   product_data: Any = None, drop_indices: Optional[Sequence[int]] = None) -> Any:
        """The problem re-created with the optimal instruments, ready to `solve` (as PyBLP's `to_problem()`).

        `drop_indices`: columns of the instruments (elements of theta) left out; by default, as PyBLP, those of betas
        in theta on exogenous X1 columns (their columns are in ZD already). With a supply side the shifter
        formulations replace the default shifters (intercepts dropped), built from `product_data` when given."""
        problem = self.problem_results.problem
        dropped = dropped_columns(self.problem_results, drop_indices)
        if problem.supply is not None:
            return supply_problem(self.problem_results, self.demand_instruments, self.supply_instruments, ~dropped,
                                  supply_shifter_formulation, demand_shifter_formulation, product_data)
        for name, given in (('supply_shifter_formulation', supply_shifter_formulation),
                            ('demand_shifter_formulation', demand_shifter_formulation)):
            if given is not None:
                raise SpecificationError(f'{name} needs a supply side: this problem has none', parameter=name)
        exogenous = ~problem.X1_endogenous
        frame = problem.products.frame
        X1 = problem.product_formulations[0].build(frame, 'X1 formulation').matrix
        # an endogenous column gets E[X1 | Z] only when its beta was concentrated out (else Z_D^opt has its column)
        in_theta = _beta_columns(self.problem_results)
        kept = ~dropped
        parts = [X1[:, exogenous], self.demand_instruments[:, kept]]
        labels = [label for label, keep in zip(problem.X1_labels, exogenous) if keep] + \
            [f'optimal[{label}]' for label, keep in zip(self.labels, kept) if keep]
        concentrated = problem.X1_endogenous.copy()
        concentrated[[column for column in in_theta if column is not None]] = False
        if self.expected_prices is not None and concentrated.any():
            expected = _with_prices(frame, self.expected_prices[:, 0])
            X1_expected = problem.product_formulations[0].build(expected, 'X1 formulation').matrix
            parts.append(X1_expected[:, concentrated])
            labels += [f'expected[{label}]' for label, endogenous in zip(problem.X1_labels, concentrated) if endogenous]
        return problem.with_instruments(np.column_stack(parts), labels)

    def __repr__(self) -> str:
        """PyBLP's `Optimal Instrument Results Summary`."""
        return statistics_table('Optimal Instrument Results Summary',
                                [(['Computation', 'Time'], clock(self.computation_time)),
                                 (['Error Term', 'Draws'], self.draws)])

    def to_dict(self, attributes: Sequence[str] = ATTRIBUTES) -> dict[str, Any]:
        """PyBLP's: its attribute names mapped to its values (`to_document` is the JSON form). Without a supply side
        there are no equilibria (every market converged in no iterations) and d omega / d theta is NaN."""
        T, N, P = self.problem_results.problem.T, *self.expected_xi_by_theta_jacobian.shape
        iterations = self.equilibrium_iterations if self.equilibrium_iterations is not None else \
            np.zeros((T, self.draws), dtype=np.int64)
        forms = {'fp_converged': np.ones(iterations.shape, dtype=bool), 'fp_iterations': iterations,
                 'contraction_evaluations': iterations,  # the simple iteration evaluates once per iteration
                 'expected_omega_by_theta_jacobian': self.expected_omega_by_theta_jacobian
                 if self.expected_omega_by_theta_jacobian is not None else np.full((N, P), np.nan)}
        return {name: forms[name] if name in forms else getattr(self, name) for name in attributes}

    def to_document(self) -> dict[str, Any]:
        """JSON-ready: what the service stores of the instruments."""
        return {'method': self.method, 'draws': self.draws, 'seed': self.seed, 'labels': list(self.labels),
                'inverse_covariance_matrix': jsonable(self.inverse_covariance_matrix),
                'computation_seconds': self.computation_time}


# the options of `compute_optimal_instruments` and `to_problem` the service's spec carries (JSON), beside the method
OPTIONS = ('constant_costs', 'expected_prices_column', 'drop_indices', 'supply_shifter_formulation',
           'demand_shifter_formulation')


def from_choices(results: ProblemResults, choices: dict[str, Any]) -> tuple[OptimalInstrumentResults, Any]:
    """The optimal instruments and the re-created problem for JSON choices (the service's `optimal_instruments` spec
    or a stored report): method, draws, seed and `OPTIONS`, each missing one at PyBLP's default."""
    column = choices.get('expected_prices_column')
    expected = None if column is None else _column(results.problem.products.frame, column)
    instruments = compute_optimal_instruments(results, choices.get('method', 'approximate'), choices.get('draws', 1),
                                              choices.get('seed'), expected,
                                              constant_costs=choices.get('constant_costs', True))
    formulations = {name: Formulation(choices[name]) for name in OPTIONS[3:] if choices.get(name) is not None}
    return instruments, instruments.to_problem(drop_indices=choices.get('drop_indices'), **formulations)


def _column(frame: Any, name: str) -> np.ndarray:
    """A numeric product_data column (the service's `expected_prices_column`)."""
    if name not in frame.columns:
        raise DataError(f'product_data has no column {name!r} (optimal_instruments.expected_prices_column)',
                        column=name, dataset='product_data')
    try:
        return frame[name].to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise DataError(f'product_data column {name!r} (expected prices) must be numeric', column=name,
                        dataset='product_data') from None


def re_estimate(results: ProblemResults, options: SolveOptions, choices: dict[str, Any],
                progress: Any = None) -> tuple[OptimalInstrumentResults, Any]:
    """Optimal instruments from `results` (JSON `choices`, `from_choices`) and the re-created problem solved with
    `options` (a `SolveOptions`) started at the first estimates, as PyBLP's tutorial does; a weighting matrix given
    for the first problem does not fit the new instruments and is dropped."""
    if not results.converged:
        raise SpecificationError('optimal instruments need a converged estimate; this one stopped with: '
                                 f'{results.optimization_message}', parameter='optimal_instruments')
    instruments, problem = from_choices(results, choices)
    values = results.nonlinear_values
    starts = {name: (getattr(values, name) if getattr(options, name) is not None else None)
              for name in ('sigma', 'pi', 'rho')}
    updated = problem.estimate(options.replace(W=None, **starts), progress)
    return instruments, updated


def _beta_columns(results: ProblemResults) -> list[Optional[int]]:
    """For each element of theta, the X1 column of its beta (None for sigma, pi, rho)."""
    return [parameter.location[0] if isinstance(parameter, BetaParameter) else None
            for parameter in results._estimation.parameters.unfixed]


def dropped_columns(results: ProblemResults, drop_indices: Optional[Sequence[int]]) -> np.ndarray:
    """Which columns of the optimal instruments `to_problem` leaves out (P booleans): `drop_indices` (elements of
    theta, numpy's negative indices allowed) or PyBLP's default, betas in theta on exogenous X1 columns."""
    problem, P = results.problem, results._estimation.parameters.P
    dropped = np.zeros(P, dtype=bool)
    if drop_indices is None:
        for index, column in enumerate(_beta_columns(results)):
            dropped[index] = column is not None and not problem.X1_endogenous[column]
        return dropped
    if isinstance(drop_indices, (str, bytes)) or not isinstance(drop_indices, Sequence) or \
            not all(isinstance(index, (int, np.integer)) and not isinstance(index, bool) for index in drop_indices):
        raise SpecificationError('drop_indices must be a sequence of integers (elements of theta)',
                                 parameter='drop_indices')
    for index in drop_indices:
        if not -P <= index < P:
            raise SpecificationError(f'drop_indices has {index}, but theta has {P} element(s): '
                                     f'{", ".join(results.theta_labels)}', parameter='drop_indices')
        dropped[index] = True
    return dropped


def _with_prices(frame: Any, prices: np.ndarray) -> Any:
    changed = frame.copy()
    changed['prices'] = prices
    return changed


def expected_prices(problem: Problem) -> np.ndarray:
    """E[p | Z]: fitted values of the absorbed prices on the absorbed ZD, plus the absorbed fixed effects (N)."""
    prices = problem.products.frame['prices'].to_numpy(dtype=float)
    absorbed = problem.absorber(prices[:, None])[:, 0]
    ZD = problem.ZD
    coefficients = np.linalg.lstsq(ZD.T @ ZD, ZD.T @ absorbed, rcond=None)[0]
    return ZD @ coefficients + prices - absorbed


def compute_optimal_instruments(results: ProblemResults, method: str = 'approximate', draws: int = 1,
                                seed: Optional[int] = None, expected_prices_: Optional[Any] = None,
                                iteration: Any = None, constant_costs: bool = True) -> OptimalInstrumentResults:
    """`results.compute_optimal_instruments(method, draws, seed, expected_prices, iteration, constant_costs)` (PyBLP's
    arguments). With shares in X3 and no `expected_prices`, PyBLP solves no equilibrium: prices are the reduced-form
    fit on ZD, as without a supply side, so `constant_costs` (which moves costs with shares only in an equilibrium
    that X3's shares enter) changes nothing, as in PyBLP."""
    started = time.perf_counter()
    draws = _checked_draws(method, draws)
    if not isinstance(constant_costs, (bool, np.bool_)):
        raise SpecificationError('constant_costs must be True or False', parameter='constant_costs')
    problem = results.problem
    if problem.MC:
        warnings.warn('optimal instruments are not computed with covariance restrictions in mind: they are optimal '
                      'for the demand and supply moments only (as PyBLP warns)', BLPWarning, stacklevel=3)
    N = problem.N
    xi = results.xi[:, 0]
    if not np.isfinite(xi).all() or not np.isfinite(results.theta).all():
        raise SpecificationError('optimal instruments need finite estimates', parameter='results')
    frame = problem.products.frame
    has_prices = 'prices' in frame.columns
    if expected_prices_ is not None:
        prices_hat = np.asarray(expected_prices_, dtype=float).reshape(-1)
        if prices_hat.shape != (N,) or not np.isfinite(prices_hat).all():
            raise SpecificationError(f'expected_prices must be a finite {N}-vector', parameter='expected_prices')
    elif problem.supply is None:
        prices_hat = expected_prices(problem) if has_prices else None  # type: ignore[assignment]
    if problem.supply is not None:
        given = prices_hat if expected_prices_ is not None else None
        if given is None and reads_shares(problem.product_formulations[2]):  # PyBLP's: no equilibrium, fitted prices
            given = expected_prices(problem)
        return _with_supply(results, method, draws, seed, given, iteration, started)

    state = np.random.RandomState(seed)
    deviation = np.std(xi)
    samples = {'approximate': lambda: np.zeros(N), 'normal': lambda: state.normal(0, deviation, N),
               'empirical': lambda: xi[state.choice(N, N)]}
    sample = samples[method]

    realization = _Realization(results, prices_hat)
    P = results._estimation.parameters.P
    jacobian, shares = np.zeros((N, P)), np.zeros(N)
    for _ in range(draws):
        jacobian_r, shares_r = realization.at(sample())
        jacobian += jacobian_r / draws
        shares += shares_r / draws
    for index, column in enumerate(_beta_columns(results)):  # d xi / d beta_k = -X1_k, at expected prices
        if column is not None:
            jacobian[:, index] = -realization.X1[:, column]
    variance = np.var(xi)
    with np.errstate(all='ignore'):
        inverse = np.array([[1 / variance]])
        instruments = inverse[0, 0] * jacobian
    return OptimalInstrumentResults(
        results, instruments, np.zeros((N, 0)), inverse, jacobian,
        None if prices_hat is None else prices_hat[:, None], shares[:, None], method, int(draws), seed,
        time.perf_counter() - started, list(results.theta_labels))


def _checked_draws(method: str, draws: int) -> int:
    """The number of error realizations to average over (one for the approximate method), after PyBLP's checks."""
    if method not in METHODS:
        raise SpecificationError("method must be 'approximate', 'normal' or 'empirical'", parameter='method')
    if method == 'approximate':
        return 1
    if isinstance(draws, bool) or not isinstance(draws, (int, np.integer)) or draws < 1:
        raise SpecificationError('draws must be a positive integer', parameter='draws')
    return int(draws)


def _with_supply(results: ProblemResults, method: str, draws: int, seed: Optional[int],
                 given_prices: Optional[np.ndarray], iteration: Any, started: float) -> OptimalInstrumentResults:
    """Z_D and Z_S at equilibrium prices of each error realization (`blp.post.optimal_supply`)."""
    computed = supply_instruments(results, method, draws, seed, given_prices, iteration)
    return OptimalInstrumentResults(
        results, computed.demand_instruments, computed.supply_instruments, computed.inverse_covariance_matrix,
        computed.xi_jacobian, computed.prices[:, None], computed.shares[:, None], method, int(draws), seed,
        time.perf_counter() - started, list(results.theta_labels), computed.omega_jacobian, computed.fp_iterations)


class _Realization:
    """What stays fixed across realizations of xi: delta - xi moved to expected prices, X2 at expected prices."""

    def __init__(self, results: ProblemResults, prices_hat: Optional[np.ndarray]) -> None:
        problem = results.problem
        self.problem, self.results = problem, results
        self.estimation = results._estimation
        self.values = results.nonlinear_values
        base = results.delta[:, 0] - results.xi[:, 0]
        X2 = problem.X2
        X1 = problem.product_formulations[0]
        frame = problem.products.frame
        self.X1 = X1.build(frame, 'X1 formulation').matrix  # at expected prices when there are prices
        if prices_hat is not None:
            expected = _with_prices(frame, prices_hat)
            X1_expected = X1.build(expected, 'X1 formulation').matrix
            base = base + (X1_expected - self.X1) @ results.beta[:, 0]
            self.X1 = X1_expected
            X2_formulation = problem.product_formulations[1]
            if problem.K2 and X2_formulation is not None:
                X2 = X2_formulation.build(expected, 'X2 formulation').matrix
        self.base, self.X2 = base, X2
        model = problem.model
        self.model = DemandModel(problem.products.layout, problem.products.shares, X2, problem.agents,
                                 model.nest_codes, model.H, epsilon_scale=model.epsilon_scale)

    def at(self, xi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """d delta / d theta (N x P) and shares (N) at delta = base + xi."""
        problem, layout, values = self.problem, self.problem.products.layout, self.values
        delta = self.base + xi
        padded = layout.pad(delta)
        utilities = self.model.utilities(padded, values)
        nests = self.model.nests(values.rho)
        weights = self.model.agent_weights
        choices = logit(utilities, weights, overwrite=True) if nests is None else \
            nested_logit(utilities, weights, nests)
        shares = layout.unpad(choices.shares)
        parameters = self.estimation.parameters
        if not parameters.P:
            return np.zeros((problem.N, 0)), shares
        model = DemandModel(layout, shares, self.X2, problem.agents, self.model.nest_codes, self.model.H,
                            epsilon_scale=self.model.epsilon_scale)
        random = None if model.random is None else model.random.prepare(values)
        none = np.zeros(layout.T, dtype=np.int64)
        inversion = Inversion(delta, padded, none, none, np.ones(layout.T, dtype=bool), random)
        jacobian, _ = model.delta_jacobian(inversion, parameters, self.estimation.variables, self.estimation.columns)
        return jacobian, shares


def restore_stored(problem: Problem, stored: dict[str, Any], micro_moments: Any = ()) -> ProblemResults:
    """The results of a stored estimate (`{'results': ..., 'optimal_instruments': ...}`): a re-estimate with optimal
    instruments is restored on the problem re-created from its first estimate (approximate instruments, or draws
    with the stored seed, are deterministic), a plain estimate on `problem` itself."""
    report = stored.get('optimal_instruments')
    if report is None:
        return problem.restore(stored['results'], micro_moments=micro_moments)
    first = restore_stored(problem, report['initial'], micro_moments)
    return from_choices(first, report)[1].restore(stored['results'], micro_moments=micro_moments)
