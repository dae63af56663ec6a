"""Multi-start numerics: draw starting values within bounds, solve from each, then choose among the finished
starts and say how well they agree. The fan-out itself (one task per start) belongs to the worker; this module
only does the maths.

A start is acceptable when its first- and second-order conditions hold: projected gradient norm below a
tolerance and all Hessian eigenvalues positive. The chosen estimate is the acceptable start with the lowest
objective; starts whose theta agree within a tolerance count as one optimum.

Objectives are comparable only under one weighting matrix. Every start is therefore solved as one GMM step
with a W shared by all starts (`solve_start`): the 2SLS W for a one-step estimate (with micro moments, PyBLP's
initial update at the template's starting values instead, so that the micro block is weighted); for a two-step estimate, a
first phase with the 2SLS W, then a second phase from each start's first-phase theta with the updated W of the
best first-phase start (as a single two-step estimate would update W from its own first step).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import qmc

from blp.configurations.solve_options import SolveOptions
from blp.estimation.estimator import Estimation
from blp.estimation.parameters import Labels, NonlinearValues, Parameters
from blp.exceptions import SpecificationError
from blp.post.postestimation import mean_own_elasticity
from blp.serialization import jsonable

if TYPE_CHECKING:  # types only: multistart is imported by the worker without a problem
    from blp.estimation.problem import Problem
    from blp.estimation.results import ProblemResults

BOUND_NAMES = ('sigma_bounds', 'pi_bounds', 'rho_bounds', 'beta_bounds')


def _start(values: NonlinearValues, theta: np.ndarray) -> dict[str, Any]:
    beta = [None if np.isnan(value) else float(value) for value in values.beta[:, 0]]
    return {'sigma': values.sigma.tolist(), 'pi': values.pi.tolist(), 'rho': values.rho[:, 0].tolist(),
            'beta': beta if any(value is not None for value in beta) else None, 'theta': list(map(float, theta))}


def starting_values(problem: Labels, sigma: Optional[ArrayLike], pi: Optional[ArrayLike], rho: Optional[ArrayLike], count: int,
                    seed: int = 0, sampler: str = 'sobol',
                    sigma_bounds: Optional[ArrayLike] = None, pi_bounds: Optional[ArrayLike] = None,
                    rho_bounds: Optional[ArrayLike] = None, beta: Any = None,
                    beta_bounds: Any = None) -> list[dict[str, Any]]:
    """`count` sets of (sigma, pi, rho) with every free element drawn within its (finite) bounds.

    The free elements are those of the template (nonzero sigma/pi/rho, as in `solve`). The first start is the
    template itself, so the user's own starting values are always among those tried.
    """
    if count < 1:
        raise SpecificationError('starts.count must be at least 1', parameter='starts.count')
    if sampler not in ('sobol', 'uniform'):
        raise SpecificationError("starts.sampler must be 'sobol' or 'uniform'", parameter='starts.sampler')
    parameters = Parameters(sigma, pi, rho, problem.X2_labels, problem.demographics_labels, problem.nest_labels,
                            sigma_bounds, pi_bounds, rho_bounds, beta=beta, X1_labels=problem.X1_labels,
                            beta_bounds=beta_bounds)
    if not parameters.P:
        raise SpecificationError('multi-start needs at least one free nonlinear parameter (sigma, pi or rho)',
                                 parameter='sigma')
    lower, upper = (np.array(side, dtype=float) for side in zip(*parameters.bounds))
    unbounded = ~(np.isfinite(lower) & np.isfinite(upper))
    if unbounded.any():
        label = parameters.labels[int(np.flatnonzero(unbounded)[0])]
        raise SpecificationError(f'multi-start draws starting values within bounds, but {label} has no finite '
                                 f'lower and upper bound: give starts.bounds', parameter=label)
    if sampler == 'sobol':
        power = int(np.ceil(np.log2(max(count - 1, 1))))  # Sobol' points balance only in powers of two
        uniform = qmc.Sobol(d=parameters.P, scramble=True, seed=seed).random_base2(power)
    else:
        uniform = np.random.default_rng(seed).uniform(size=(max(count - 1, 1), parameters.P))
    thetas = [parameters.theta] + list(lower + uniform[:count - 1] * (upper - lower))
    return [_start(parameters.expand(theta), theta) for theta in thetas]


def acceptable(start: dict[str, Any], gradient_tolerance: float) -> bool:
    """First-order (projected gradient norm) and second-order conditions hold: the reduced Hessian (rows of
    parameters at an active bound zeroed, as PyBLP does) has no negative eigenvalue and one positive eigenvalue
    for every parameter not at a bound."""
    if start.get('status') != 'succeeded':
        return False
    norm = start.get('gradient_norm')
    eigenvalues = np.array([value for value in (start.get('hessian_eigenvalues') or []) if value is not None])
    free = len(start.get('theta') or []) - len(start.get('active_bounds') or [])
    scale = max(1.0, float(np.abs(eigenvalues).max(initial=0.0)))
    return (norm is not None and norm <= gradient_tolerance and eigenvalues.size == len(start.get('theta') or [])
            and eigenvalues.min(initial=0.0) >= -1e-8 * scale and int((eigenvalues > 1e-8 * scale).sum()) >= free)


def summarize(starts: Sequence[dict[str, Any]], gradient_tolerance: float = 1e-4, theta_rtol: float = 1e-3,
              theta_atol: float = 1e-6, statistics: Optional[Sequence[str]] = None) -> dict[str, Any]:
    """Choose the best acceptable start and describe agreement.

    Each start is a dict with `status` ('succeeded' or not), `theta` (final), `objective`, `gradient_norm`,
    `hessian_eigenvalues` and optionally `statistics`, numbers or vectors (e.g. the mean own-price elasticity,
    beta) whose spread across acceptable starts is reported.
    """
    usable = [index for index, start in enumerate(starts) if acceptable(start, gradient_tolerance)]
    chosen = min(usable, key=lambda index: starts[index]['objective']) if usable else None
    optima: list[list[int]] = []
    for index in usable:
        theta = np.asarray(starts[index]['theta'], dtype=float)
        for group in optima:
            if np.allclose(theta, starts[group[0]]['theta'], rtol=theta_rtol, atol=theta_atol):
                group.append(index)
                break
        else:
            optima.append([index])
    reached = next((group for group in optima if chosen in group), [])
    spread = {}
    for name in statistics or ():  # a number per start, or a vector (elementwise spread)
        values = [starts[index][name] for index in usable if starts[index].get(name) is not None]
        if values:
            array = np.array(values, dtype=float)
            spread[name] = {'min': array.min(axis=0).tolist(), 'max': array.max(axis=0).tolist(),
                            'range': np.ptp(array, axis=0).tolist()}
    if usable:
        thetas = np.array([starts[index]['theta'] for index in usable], dtype=float)
        spread['theta'] = {'min': thetas.min(axis=0).tolist(), 'max': thetas.max(axis=0).tolist(),
                           'range': np.ptp(thetas, axis=0).tolist()}
    return {
        'chosen': chosen,
        'starts': len(starts),
        'succeeded': sum(start.get('status') == 'succeeded' for start in starts),
        'acceptable': len(usable),
        'distinct_optima': len(optima),
        'reached_chosen': len(reached),
        'all_acceptable_agree': len(optima) == 1,
        'optima': [{'starts': group, 'objective': float(starts[group[0]]['objective'])} for group in optima],
        'spread': spread,
        'gradient_tolerance': gradient_tolerance,
        'theta_rtol': theta_rtol,
    }


# ------------------------------------------------------------------------------------------ solving the starts

def draw_starts(problem: Labels, options: SolveOptions, count: int, seed: int = 0, sampler: str = 'sobol',
                bounds: Optional[dict[str, Any]] = None) -> list[dict[str, Any]]:
    """Starting values for a multi-start of `problem.estimate(options)`, checked against that solve.

    `bounds` maps `sigma_bounds`/`pi_bounds`/`rho_bounds` to where starts are drawn; a name left out (or None)
    draws within the solve's own bounds. The drawing box must lie within the solve's bounds, or the solve would
    refuse the very starts drawn for it: a SpecificationError names the parameter.
    """
    if options.gamma is not None and np.isfinite(np.array(options.gamma, dtype=float)).any():
        raise SpecificationError('multi-start draws sigma, pi, rho and beta, not gamma in theta: estimate with gamma '
                                 'given as numbers in a single start, or leave gamma concentrated out (null)',
                                 parameter='gamma')
    box = _box(options, bounds)
    starts = starting_values(problem, options.sigma, options.pi, options.rho, count, seed, sampler, beta=options.beta,
                             **box)
    solve = Parameters.of(problem, options)
    drawn = Parameters.of(problem, options.replace(**box), bounded=False)
    for label, (lower, upper), (low, high) in zip(solve.labels, solve.bounds, drawn.bounds):
        if low < lower or high > upper:
            raise SpecificationError(f'starts are drawn for {label} within [{low}, {high}], outside its bounds '
                                     f'[{lower}, {upper}] in the solve', parameter=label)
    return starts


def _box(options: SolveOptions, bounds: Optional[dict[str, Any]]) -> dict[str, Any]:
    """Where starts are drawn: `bounds` where given, else the solve's own bounds."""
    box = {name: (bounds or {}).get(name) for name in BOUND_NAMES}
    return {name: value if value is not None else getattr(options, name) for name, value in box.items()}


def longest_first(problem: Labels, options: SolveOptions, starts: Sequence[dict[str, Any]],
                  bounds: Optional[dict[str, Any]] = None) -> list[int]:
    """Indices of `starts` (from `draw_starts`) in the order to run them: the longest expected first, so that
    parallel workers end together instead of one idling while another runs a long start last.

    The expected cost is the start's distance from the centre of the drawing box, each parameter scaled to its
    width: on the cereal model, starts toward the box's corners took longer (rank correlation 0.50 over 64 starts,
    `bench/multistart_order.py`). That is too loose to balance two processes better than the drawn order does (1.91
    both, replayed; 1.96 with the durations known), since a start's length is mostly its optimizer iterations; it
    costs nothing, and ties keep the drawn order."""
    drawn = Parameters.of(problem, options.replace(**_box(options, bounds)), bounded=False)
    lower, upper = (np.array(side, dtype=float) for side in zip(*drawn.bounds))
    width = np.where(upper > lower, upper - lower, 1.0)
    centre = (lower + upper) / 2
    distance = [float(np.linalg.norm((np.asarray(start['theta'], dtype=float) - centre) / width)) for start in starts]
    return sorted(range(len(starts)), key=lambda index: -distance[index])


class _Sized:
    """Stands in for a problem where only the sizes of sigma, pi, rho and beta matter (drawing starts and ordering
    them never reads the data): one placeholder label per row or column of the solve's own starting values."""

    def __init__(self, options: SolveOptions) -> None:
        sigma, pi = (None if values is None else np.atleast_2d(np.array(values, dtype=float))
                     for values in (options.sigma, options.pi))
        K2 = sigma.shape[0] if sigma is not None else pi.shape[0] if pi is not None else 0
        self.X2_labels = [f'x{k}' for k in range(K2)]
        self.demographics_labels = [f'd{d}' for d in range(pi.shape[1] if pi is not None else 0)]
        self.nest_labels = [f'h{h}' for h in range(np.size(options.rho) if options.rho is not None else 0)]
        self.X1_labels = [f'b{k}' for k in range(np.size(np.asarray(options.beta, dtype=object))
                                                 if options.beta is not None else 0)]


def expected_order(options: SolveOptions, count: int, seed: int = 0, sampler: str = 'sobol',
                   bounds: Optional[dict[str, Any]] = None) -> list[int]:
    """`longest_first` of the starts `draw_starts` draws, without a built problem, so that the starts can be
    published before anything is built. The draw depends on the problem only through the sizes of sigma, pi, rho
    and beta, taken here from the solve's own values (checked against the built problem when a job is submitted).
    Only the order comes from here: each start's values are drawn from the built problem."""
    sized = _Sized(options)
    return longest_first(sized, options, draw_starts(sized, options, count, seed, sampler, bounds), bounds)


def continue_from(problem: Problem, options: SolveOptions, theta: Sequence[float]) -> dict[str, Any]:
    """A start at `theta` (a finished start's estimate), in the form `solve_start` takes.

    A free element that ended exactly at zero (a bound, often) is moved a hair inside its bounds: a zero starting
    value would fix it, and the start would then estimate fewer parameters than the others.
    """
    parameters = Parameters.of(problem, options)
    moved = np.array(theta, dtype=float)
    for index, (lower, upper) in enumerate(parameters.bounds):
        if moved[index] == 0:
            moved[index] = min(max(1e-8 if upper > 0 else -1e-8, lower), upper)
    return _start(parameters.expand(moved), moved)


def solve_start(problem: Problem, options: SolveOptions, start: dict[str, Any], W: Optional[np.ndarray] = None,
                step: int = 1, progress: Optional[Callable[[dict], None]] = None) -> Any:
    """Solve one start: `options` from the start's sigma/pi/rho, as one GMM step with weighting matrix `W` (None:
    the 2SLS matrix). `step` numbers that step (2 in a two-step's second phase), so standard errors and the
    reported step are those of the corresponding step of a two-step estimate."""
    values = {name: start.get(name) if getattr(options, name) is not None else None
              for name in ('sigma', 'pi', 'rho', 'beta')}
    if W is None and (options.micro_moments or options.initial_update):
        template = Estimation(problem, options)  # one W for every start: the initial update at the template's values
        W = template.moment_order.matrix(template.initial_update(template.parameters.theta))  # as W is given
    return Estimation(problem, options.replace(**values, method='1s', W=W, initial_update=False), progress,
                      first_step=step).run()


def outcome(results: ProblemResults) -> dict[str, Any]:
    """A solved start as `summarize` reads it, with what a report of the starts shows."""
    eigenvalues = np.asarray(results.hessian_eigenvalues, dtype=float)
    finite = eigenvalues[np.isfinite(eigenvalues)]
    return {
        'status': 'succeeded',
        'theta': results.theta.tolist(),
        'beta': results.beta[:, 0].tolist(),
        'objective': float(results.objective),
        'gradient_norm': float(results.gradient_norm),
        'hessian_eigenvalues': jsonable(eigenvalues),
        'smallest_hessian_eigenvalue': float(finite.min()) if finite.size else None,
        'active_bounds': list(results.active_bounds),
        'converged': bool(results.converged),
        'optimization_iterations': int(results.optimization_iterations),
        'mean_own_price_elasticity': mean_own_elasticity(results),
    }
