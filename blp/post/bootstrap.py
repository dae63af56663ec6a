"""PyBLP's parametric bootstrap (`ProblemResults.bootstrap`) and percentile intervals of what is computed from it.

Draws of all parameters come from their estimated asymptotic distribution,

    (theta_d, beta_d) ~ N((theta, beta), V / N),   V = results.parameter_covariances,

with NumPy's `RandomState(seed).multivariate_normal` as PyBLP draws them (so a seed gives PyBLP's draws), each
theta_d clipped to the solve's bounds. Each draw keeps xi: delta_d = delta + X1 (beta_d - beta) (X1 before fixed
effects are absorbed), prices stay observed (a demand side alone has no equilibrium to re-solve), and the draw's
shares are s(delta_d, theta_d). Post-estimation at a draw treats those shares as observed, as PyBLP does.

`BootstrappedResults` has PyBLP's attributes (`bootstrapped_sigma` draws x K2 x K2, ..., `bootstrapped_shares`
draws x N x 1) and computes any post-estimation output per draw (`compute_elasticities`, `compute_prices`, ... with
an extra first dimension of size `draws` on the result and on per-draw arguments such as `costs`), and
`intervals(values)` gives percentile intervals over draws. `draw_summaries` computes, for a slice of draws, the two
statistics the service reports (mean own-price elasticity and merger price changes), so draws can be computed in
chunks on several workers and combined.
"""

from __future__ import annotations

import copy
import functools
import time
import warnings
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

import numpy as np

from blp.exceptions import SpecificationError
from blp.post.diagonals import extract_diagonal_means, extract_diagonals
from blp.post.postestimation import mean_own_elasticity
from blp.printing import clock, statistics_table

if TYPE_CHECKING:  # a back-reference for the type checker only
    from blp.estimation.results import ProblemResults

# Post-estimation methods that `BootstrappedResults` computes per draw; these arguments take one value per draw.
METHODS = ('compute_demand_jacobians', 'compute_elasticities', 'compute_diversion_ratios',
           'compute_long_run_diversion_ratios', 'compute_aggregate_elasticities', 'compute_shares', 'compute_costs',
           'compute_markups', 'compute_profits', 'compute_hhi', 'compute_consumer_surpluses',
           'compute_approximate_prices', 'compute_prices')
PER_DRAW = ('costs', 'prices', 'shares', 'delta')


def bootstrap_parameters(results: ProblemResults, draws: int, seed: Optional[int] = None,
                         bounds: Optional[Sequence[tuple[float, float]]] = None) -> tuple[np.ndarray, np.ndarray]:
    """(theta draws (draws x P), beta draws (draws x K1)) from N((theta, beta), V / N), theta clipped to the
    estimation's bounds (`bounds`, one (lower, upper) per element of theta, when `results` was restored from a
    stored estimate without them)."""
    if isinstance(draws, bool) or not isinstance(draws, (int, np.integer)) or draws < 1:
        raise SpecificationError('draws must be a positive integer', parameter='draws')
    parameters = results._estimation.parameters
    mean = np.concatenate([results.theta, results.beta[:, 0]])
    covariances = np.asarray(results.parameter_covariances, dtype=float)
    if not np.isfinite(covariances).all():
        raise SpecificationError('the bootstrap needs finite parameter covariances (standard errors)',
                                 parameter='parameter_covariances')
    state = np.random.RandomState(seed)
    drawn = np.atleast_2d(state.multivariate_normal(mean, covariances / results.problem.N, draws))
    theta, beta = drawn[:, :parameters.P], drawn[:, parameters.P:]
    if parameters.P:
        lower, upper = (np.array(bound, dtype=float) for bound in zip(*(parameters.bounds if bounds is None
                                                                         else bounds)))
        theta = np.clip(theta, lower, upper)
    return theta, beta


class BootstrappedResults:
    """PyBLP's `BootstrappedResults` for a demand side: parameters, prices, shares and delta per draw."""

    def __init__(self, results: ProblemResults, theta: np.ndarray, beta: np.ndarray, seconds: float = 0.0) -> None:
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
        X1 = problem.product_formulations[0].build(problem.products.frame, 'X1 formulation').matrix
        self.bootstrapped_delta = results.delta[None] + (X1 @ (beta - results.beta[:, 0]).T).T[:, :, None]
        frame = problem.products.frame
        prices = frame['prices'].to_numpy(dtype=float) if 'prices' in frame.columns else np.full(problem.N, np.nan)
        self.bootstrapped_prices = np.repeat(prices[None, :, None], self.draws, axis=0)
        self._values = values
        self.bootstrapped_shares = np.stack([self.draw(d).compute_shares() for d in range(self.draws)])
        self.computation_time = seconds

    def draw(self, d: int) -> Any:
        """The results at draw d: every post-estimation method of `ProblemResults`, at the draw's parameters and
        with its shares taken as observed."""
        results = self.problem_results
        drawn = copy.copy(results)
        for name in _cached_names(type(results)):
            drawn.__dict__.pop(name, None)
        values = self._values[d]
        drawn.nonlinear_values, drawn.sigma, drawn.pi, drawn.rho = values, values.sigma, values.pi, values.rho
        drawn.theta = self.bootstrapped_theta[d]
        drawn.beta = self.bootstrapped_beta[d]
        drawn.delta = self.bootstrapped_delta[d]
        if 'bootstrapped_shares' in self.__dict__:
            drawn._observed_shares = self.problem.products.layout.pad(self.bootstrapped_shares[d, :, 0])
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

    def __repr__(self) -> str:
        """PyBLP's `Bootstrapped Results Summary`."""
        return statistics_table('Bootstrapped Results Summary', [(['Computation', 'Time'], clock(self.computation_time)),
                                                                 (['Bootstrap', 'Draws'], self.draws)])

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


def bootstrap(results: ProblemResults, draws: int = 1000, seed: Optional[int] = None) -> BootstrappedResults:
    """`results.bootstrap(draws, seed)`, as PyBLP's."""
    started = time.perf_counter()
    theta, beta = bootstrap_parameters(results, draws, seed)
    bootstrapped = BootstrappedResults(results, theta, beta)
    bootstrapped.computation_time = time.perf_counter() - started
    return bootstrapped


def draw_summaries(results: ProblemResults, draws: int, seed: Optional[int], indices: Sequence[int],
                   merger: Optional[np.ndarray] = None,
                   bounds: Optional[Sequence[tuple[float, float]]] = None) -> list[dict[str, Any]]:
    """For draws `indices` of `results.bootstrap(draws, seed)` (the parameter draws are made in full, so a chunk
    sees the same draws as the whole): theta and beta, the mean own-price elasticity (mean over products) and, with
    `merger` (new firm ids per product), the merger's price changes (new equilibrium prices minus observed; None
    in markets whose equilibrium did not converge, counted in `merger_markets_not_converged`)."""
    theta, beta = bootstrap_parameters(results, draws, seed, bounds)
    index = np.asarray(indices, dtype=np.intp)
    bootstrapped = BootstrappedResults(results, theta[index], beta[index])
    rows = []
    for d, draw_index in enumerate(index):
        drawn = bootstrapped.draw(d)
        row: dict[str, Any] = {'draw': int(draw_index), 'theta': theta[draw_index].tolist(),
                               'beta': beta[draw_index].tolist(),
                               'mean_own_price_elasticity': mean_own_elasticity(drawn)}
        if merger is not None:
            equilibrium = drawn.solve_equilibrium(firm_ids=merger, costs=drawn.compute_costs())
            layout = results.problem.products.layout
            changes = layout.unpad(equilibrium.prices) - bootstrapped.bootstrapped_prices[d, :, 0]
            converged = equilibrium.converged[layout.market_index]
            row['merger_price_changes'] = [value if ok else None for value, ok in zip(changes.tolist(), converged)]
            row['merger_markets_not_converged'] = int((~equilibrium.converged).sum())
        rows.append(row)
    return rows
