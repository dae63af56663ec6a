"""PyBLP's parametric bootstrap (`ProblemResults.bootstrap`) and percentile intervals of what is computed from it.

Draws of all parameters come from their estimated asymptotic distribution,

    (theta_d, beta_d, gamma_d) ~ N((theta, beta, gamma), V / N),   V = results.parameter_covariances,

(beta and, with a supply side, gamma: their concentrated-out elements, the others are in theta) with NumPy's
`RandomState(seed).multivariate_normal` as PyBLP draws them (so a seed gives PyBLP's draws), each theta_d clipped to
the solve's bounds. Each draw keeps xi: delta_d = delta + X1 (beta_d - beta) (X1 before fixed effects are absorbed).
Without a supply side prices stay observed; with one, each draw keeps omega too, c_d = c~ + X3 (gamma_d - gamma)
(exp of it for log costs; with `constant_costs=False` and shares in X3 it moves with the draw's shares as prices
do, `blp.supply.share_costs`), and prices move to the Bertrand-Nash equilibrium at c_d under the data's ownership (the
zeta-markup contraction from observed prices, `Iteration('simple', {'atol': 1e-12})` by default), delta_d with them;
a market whose prices do not converge keeps the last iterate, as PyBLP's, flagged in `fp_converged`. The draw's
shares are s(delta_d, theta_d) at its prices. Post-estimation at a draw treats those prices and shares as observed,
as PyBLP does.

`BootstrappedResults` has PyBLP's attributes (`bootstrapped_sigma` draws x K2 x K2, ..., `bootstrapped_gamma`
draws x K3 x 1, `bootstrapped_shares` draws x N x 1, `fp_converged` T x draws) and computes any post-estimation
output per draw (`compute_elasticities`, `compute_costs`, `compute_prices`, ... with an extra first dimension of size
`draws` on the result and on per-draw arguments such as `costs`), and `intervals(values)` gives percentile intervals
over draws. `draw_summaries` computes, for a slice of draws, the statistics the service reports (parameters, mean
own-price elasticity and merger price changes), so draws can be computed in chunks on several workers and combined.
"""

from __future__ import annotations

import copy
import functools
import time
import warnings
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

import numpy as np

from blp.configurations.solve_options import Iteration
from blp.exceptions import SpecificationError
from blp.pickling import Pickled
from blp.post.at_estimates import linear_coefficient
from blp.post.diagonals import extract_diagonal_means, extract_diagonals
from blp.post.equilibrium import solve_prices
from blp.post.postestimation import mean_own_elasticity
from blp.printing import clock, statistics_table
from blp.supply.share_costs import ShareCosts

if TYPE_CHECKING:  # a back-reference for the type checker only
    from blp.estimation.results import ProblemResults

# Post-estimation methods that `BootstrappedResults` computes per draw; these arguments take one value per draw.
METHODS = ('compute_demand_jacobians', 'compute_elasticities', 'compute_diversion_ratios',
           'compute_long_run_diversion_ratios', 'compute_aggregate_elasticities', 'compute_shares', 'compute_costs',
           'compute_markups', 'compute_profits', 'compute_hhi', 'compute_consumer_surpluses',
           'compute_approximate_prices', 'compute_prices', 'compute_passthrough')
PER_DRAW = ('costs', 'prices', 'shares', 'delta')


def bootstrap_parameters(results: ProblemResults, draws: int, seed: Optional[int] = None,
                         bounds: Optional[Sequence[tuple[float, float]]] = None
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(theta draws (draws x P), beta draws (draws x K1), gamma draws (draws x K3)) from N((theta, beta, gamma),
    V / N), theta clipped to the estimation's bounds (`bounds`, one (lower, upper) per element of theta, when
    `results` was restored from a stored estimate without them); beta's elements in theta follow theta."""
    if isinstance(draws, bool) or not isinstance(draws, (int, np.integer)) or draws < 1:
        raise SpecificationError('draws must be a positive integer', parameter='draws')
    parameters = results._estimation.parameters
    concentrated = parameters.concentrated_beta
    kept = parameters.concentrated_gamma if results.gamma.size else np.zeros(0, dtype=bool)
    mean = np.concatenate([results.theta, results.beta[concentrated, 0], results.gamma[kept, 0]])
    covariances = np.asarray(results.parameter_covariances, dtype=float)
    if not np.isfinite(covariances).all():
        raise SpecificationError('the bootstrap needs finite parameter covariances (standard errors)',
                                 parameter='parameter_covariances')
    state = np.random.RandomState(seed)
    drawn = np.atleast_2d(state.multivariate_normal(mean, covariances / results.problem.N, draws))
    split = parameters.P + int(concentrated.sum())
    theta, gamma = drawn[:, :parameters.P], drawn[:, split:]
    if parameters.P:
        lower, upper = (np.array(bound, dtype=float) for bound in zip(*(parameters.bounds if bounds is None
                                                                         else bounds)))
        theta = np.clip(theta, lower, upper)
    expanded = [parameters.expand(row) for row in theta]
    beta = np.stack([values.beta[:, 0] for values in expanded])
    beta[:, concentrated] = drawn[:, parameters.P:split]
    if kept.size:  # gamma's elements in theta follow theta too
        gamma = np.stack([values.gamma[:, 0] for values in expanded])
        gamma[:, kept] = drawn[:, split:]
    return theta, beta, gamma


ATTRIBUTES = ('bootstrapped_sigma', 'bootstrapped_pi', 'bootstrapped_rho', 'bootstrapped_phi', 'bootstrapped_beta',
              'bootstrapped_gamma', 'bootstrapped_prices', 'bootstrapped_shares', 'bootstrapped_delta', 'computation_time',
              'draws', 'fp_converged', 'fp_iterations', 'contraction_evaluations')  # PyBLP's to_dict


class BootstrappedResults(Pickled):
    """PyBLP's `BootstrappedResults`: parameters, prices, shares and delta per draw, and with a supply side gamma
    and the equilibrium's convergence (`fp_converged`, `fp_iterations`, `contraction_evaluations`: T x draws,
    markets sorted as `unique_market_ids`)."""

    def __init__(self, results: ProblemResults, theta: np.ndarray, beta: np.ndarray,
                 gamma: Optional[np.ndarray] = None, seconds: float = 0.0, iteration: Optional[Iteration] = None,
                 constant_costs: bool = True) -> None:
        self.problem_results = results
        self.problem = problem = results.problem
        parameters = results._estimation.parameters
        self.draws = theta.shape[0]
        self.bootstrapped_theta = theta
        values = [parameters.expand(row) for row in theta]
        self.bootstrapped_sigma = np.stack([v.sigma for v in values])
        self.bootstrapped_pi = np.stack([v.pi for v in values])
        self.bootstrapped_rho = np.stack([v.rho for v in values])
        self.bootstrapped_phi = np.stack([v.phi for v in values])
        self.bootstrapped_beta = beta[:, :, None]
        gamma = np.zeros((self.draws, 0)) if gamma is None else gamma
        self.bootstrapped_gamma = gamma[:, :, None]
        X1 = problem.product_formulations[0].build(problem.products.frame, 'X1 formulation').matrix
        self.bootstrapped_delta = results.delta[None] + (X1 @ (beta - results.beta[:, 0]).T).T[:, :, None]
        prices = results._column('prices')
        prices = np.full(problem.N, np.nan) if prices is None else prices
        self.bootstrapped_prices = np.repeat(prices[None, :, None], self.draws, axis=0)
        self._values = values
        self._supply = problem.supply is not None
        T = problem.products.layout.T
        self.fp_converged = np.ones((T, self.draws), dtype=bool)
        self.fp_iterations = np.zeros((T, self.draws), dtype=np.int64)
        if self._supply:
            self.bootstrapped_shares = self._equilibria(iteration, constant_costs)
        else:
            self.bootstrapped_shares = np.stack([self.draw(d).compute_shares() for d in range(self.draws)])
        self.contraction_evaluations = self.fp_iterations  # the simple iteration evaluates once per iteration
        self.computation_time = seconds

    def _equilibria(self, iteration: Optional[Iteration], constant_costs: bool) -> np.ndarray:
        """Each draw's equilibrium at its costs c~ + X3 (gamma_d - gamma), moved with shares by gamma_d with
        `constant_costs=False` and shares in X3: prices and delta (replaced in place), convergence per market, and
        the shares (returned)."""
        results, problem = self.problem_results, self.problem
        layout, X3_formulation = problem.products.layout, problem.product_formulations[2]
        assert X3_formulation is not None and results.estimated_costs is not None  # a supply side
        X3 = X3_formulation.build(problem.products.frame, 'X3 formulation').matrix
        tilde = results.estimated_costs[:, 0] if problem.costs_type == 'linear' else \
            np.log(results.estimated_costs[:, 0])
        costs = tilde[None] + (X3 @ (self.bootstrapped_gamma[:, :, 0] - results.gamma[:, 0]).T).T
        costs = costs if problem.costs_type == 'linear' else np.exp(costs)
        ownership = results._ownership(None, None, None)
        order, shares = results._market_order, np.zeros_like(self.bootstrapped_delta)
        for d in range(self.draws):
            drawn = self.draw(d)
            model = drawn._model  # the draw at observed prices
            assert model.prices is not None  # a supply side needs prices
            fixed = np.zeros(model.mask.shape, dtype=bool)
            moving = None if constant_costs else ShareCosts.build(
                X3_formulation, problem.products.frame, layout, self.bootstrapped_gamma[d, :, 0], problem.costs_type)
            equilibrium = solve_prices(model, layout.pad(costs[d]), ownership, model.prices, fixed, iteration, moving)
            change = layout.unpad(equilibrium.prices - model.prices)
            # delta's slope, in V's units (the model's beta is over a scaled logit error's e)
            slope = linear_coefficient('prices', list(model.beta_labels), drawn.beta[:, 0], list(model.X2_labels))[0]
            self.bootstrapped_prices[d, :, 0] += change
            self.bootstrapped_delta[d, :, 0] += slope * change
            shares[d, :, 0] = layout.unpad(equilibrium.shares)
            self.fp_converged[:, d] = equilibrium.converged[order]
            self.fp_iterations[:, d] = equilibrium.iterations[order]
        failed = int((~self.fp_converged).sum())
        if failed:  # PyBLP reports them too, and keeps the last iterate
            warnings.warn(f'equilibrium prices did not converge in {failed} of {self.fp_converged.size} market-draws '
                          f'(see fp_converged); their last iterate is kept', RuntimeWarning, stacklevel=2)
        return shares

    def draw(self, d: int) -> Any:
        """The results at draw d: every post-estimation method of `ProblemResults`, at the draw's parameters and
        with its prices and shares taken as observed (costs: implied by them, not the estimate's)."""
        results = self.problem_results
        drawn = copy.copy(results)
        for name in _cached_names(type(results)):
            drawn.__dict__.pop(name, None)
        values = self._values[d]
        drawn.nonlinear_values, drawn.sigma, drawn.pi, drawn.rho = values, values.sigma, values.pi, values.rho
        drawn.theta = self.bootstrapped_theta[d]
        drawn.beta = self.bootstrapped_beta[d]
        drawn.gamma = self.bootstrapped_gamma[d]
        drawn.delta = self.bootstrapped_delta[d]
        drawn.estimated_costs = None
        if 'bootstrapped_shares' in self.__dict__:
            drawn._observed_shares = self.problem.products.layout.pad(self.bootstrapped_shares[d, :, 0])
            if self._supply:
                drawn._drawn_prices = self.bootstrapped_prices[d, :, 0]
        return drawn

    def per_draw(self, compute: Callable[[Any], Any]) -> np.ndarray:
        """compute(results at draw d) for every draw, stacked along a first axis of size `draws`."""
        return np.stack([np.asarray(compute(self.draw(d)), dtype=float) for d in range(self.draws)])

    def __getattr__(self, name: str) -> Any:
        if name not in METHODS:
            raise AttributeError(f"'BootstrappedResults' object has no attribute {name!r}")

        def method(*args: Any, **kwargs: Any) -> np.ndarray:
            for key in PER_DRAW:
                value = kwargs.get(key)
                if value is not None and np.shape(value)[:1] != (self.draws,):
                    raise SpecificationError(f'{key} must have a first dimension of size draws ({self.draws})',
                                             parameter=key)
            return np.stack([np.asarray(getattr(self.draw(d), name)(*args, **{
                key: (value[d] if key in PER_DRAW and value is not None else value) for key, value in kwargs.items()
            }), dtype=float) for d in range(self.draws)])

        return method

    def extract_diagonals(self, matrices: Any, market_id: Any = None) -> np.ndarray:
        """PyBLP's: each draw's own-product entries of per-market matrices (draws x N x 1, or draws x J x 1)."""
        results = self.problem_results
        return extract_diagonals(results._layout, matrices, results._market(market_id))

    def extract_diagonal_means(self, matrices: Any, market_id: Any = None) -> np.ndarray:
        """PyBLP's: each draw's per-market means of the own-product entries (draws x T x 1, or draws x 1 x 1)."""
        results = self.problem_results
        return extract_diagonal_means(results._layout, results._market_order, matrices, results._market(market_id))

    def to_dict(self, attributes: Sequence[str] = ATTRIBUTES) -> dict[str, Any]:
        """PyBLP's: its attribute names mapped to its values; phi is draws x E x 0 without covariance moments (E: 'Xi',
        and 'Omega' with a supply side, as PyBLP's)."""
        E = 1 + int(self._supply)
        forms = {'bootstrapped_phi': self.bootstrapped_phi if self.bootstrapped_phi.size else
                 np.zeros((self.draws, E, 0))}
        return {name: forms[name] if name in forms else getattr(self, name) for name in attributes}

    def __repr__(self) -> str:
        """PyBLP's `Bootstrapped Results Summary`."""
        rows: list[tuple[list[str], Any]] = [(['Computation', 'Time'], clock(self.computation_time)),
                                             (['Bootstrap', 'Draws'], self.draws)]
        if self.fp_iterations.sum() > 0:
            rows += [(['Fixed Point', 'Iterations'], int(self.fp_iterations.sum())),
                     (['Contraction', 'Evaluations'], int(self.contraction_evaluations.sum()))]
        return statistics_table('Bootstrapped Results Summary', rows)

    def intervals(self, values: Any, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Percentile interval (lower, upper) over draws (the first axis), as `np.percentile` at (1 -/+ level) / 2."""
        return percentile_intervals(values, level)


def _cached_names(cls: type) -> tuple[str, ...]:
    return tuple(name for klass in cls.__mro__ for name, value in vars(klass).items()
                 if isinstance(value, functools.cached_property))


def percentile_intervals(values: Any, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentiles (1 -/+ level) / 2 over the first axis, each element over the draws where it is not NaN."""
    if not 0 < level < 1:
        raise SpecificationError('level must be in (0, 1)', parameter='level')
    values = np.asarray(values, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)  # an element with no draw at all is NaN
        lower, upper = np.nanpercentile(values, [50 * (1 - level), 50 * (1 + level)], axis=0)
    return lower, upper


def bootstrap(results: ProblemResults, draws: int = 1000, seed: Optional[int] = None,
              iteration: Optional[Iteration] = None, constant_costs: bool = True) -> BootstrappedResults:
    """`results.bootstrap(draws, seed, iteration, constant_costs)`, as PyBLP's: with `constant_costs=False` and
    shares in X3 each draw's costs move with its equilibrium shares."""
    if not isinstance(constant_costs, (bool, np.bool_)):
        raise SpecificationError('constant_costs must be True or False', parameter='constant_costs')
    started = time.perf_counter()
    bootstrapped = BootstrappedResults(results, *bootstrap_parameters(results, draws, seed), iteration=iteration,
                                       constant_costs=constant_costs)
    bootstrapped.computation_time = time.perf_counter() - started
    return bootstrapped


def draw_summaries(results: ProblemResults, draws: int, seed: Optional[int], indices: Sequence[int],
                   merger: Optional[np.ndarray] = None,
                   bounds: Optional[Sequence[tuple[float, float]]] = None) -> list[dict[str, Any]]:
    """For draws `indices` of `results.bootstrap(draws, seed)` (the parameter draws are made in full, so a chunk
    sees the same draws as the whole): theta, beta (and gamma with a supply side), the mean own-price elasticity
    (mean over products) and, with `merger` (new firm ids per product), the merger's price changes (new equilibrium
    prices minus the draw's; None in markets whose equilibrium did not converge, counted in
    `merger_markets_not_converged`)."""
    theta, beta, gamma = bootstrap_parameters(results, draws, seed, bounds)
    index = np.asarray(indices, dtype=np.intp)
    bootstrapped = BootstrappedResults(results, theta[index], beta[index], gamma[index])
    rows = []
    for d, draw_index in enumerate(index):
        drawn = bootstrapped.draw(d)
        row: dict[str, Any] = {'draw': int(draw_index), 'theta': theta[draw_index].tolist(),
                               'beta': beta[draw_index].tolist(),
                               'mean_own_price_elasticity': mean_own_elasticity(drawn)}
        if gamma.shape[1]:
            row['gamma'] = gamma[draw_index].tolist()
        if merger is not None:
            equilibrium = drawn.solve_equilibrium(firm_ids=merger, costs=drawn.compute_costs())
            layout = results.problem.products.layout
            changes = layout.unpad(equilibrium.prices) - bootstrapped.bootstrapped_prices[d, :, 0]
            converged = equilibrium.converged[layout.market_index]
            row['merger_price_changes'] = [value if ok else None for value, ok in zip(changes.tolist(), converged)]
            row['merger_markets_not_converged'] = int((~equilibrium.converged).sum())
        rows.append(row)
    return rows
