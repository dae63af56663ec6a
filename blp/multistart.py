"""Multi-start numerics: draw starting values within bounds, then choose among the finished starts and say how
well they agree. The fan-out itself (one task per start) belongs to the worker; this module only does the maths.

A start is acceptable when its first- and second-order conditions hold: projected gradient norm below a
tolerance and all Hessian eigenvalues positive. The chosen estimate is the acceptable start with the lowest
objective; starts whose theta agree within a tolerance count as one optimum.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from blp.exceptions import SpecificationError
from blp.parameters import Parameters


def starting_values(problem: Any, sigma: Any, pi: Any, rho: Any, count: int, seed: int = 0, sampler: str = 'sobol',
                    sigma_bounds: Any = None, pi_bounds: Any = None, rho_bounds: Any = None) -> list[dict[str, Any]]:
    """`count` sets of (sigma, pi, rho) with every free element drawn within its (finite) bounds.

    The free elements are those of the template (nonzero sigma/pi/rho, as in `solve`). The first start is the
    template itself, so the user's own starting values are always among those tried.
    """
    if count < 1:
        raise SpecificationError('starts.count must be at least 1', parameter='starts.count')
    if sampler not in ('sobol', 'uniform'):
        raise SpecificationError("starts.sampler must be 'sobol' or 'uniform'", parameter='starts.sampler')
    parameters = Parameters(sigma, pi, rho, problem.X2_labels, problem.demographics_labels, problem.nest_labels,
                            sigma_bounds, pi_bounds, rho_bounds)
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
        from scipy.stats import qmc
        power = int(np.ceil(np.log2(max(count - 1, 1))))  # Sobol' points balance only in powers of two
        uniform = qmc.Sobol(d=parameters.P, scramble=True, seed=seed).random_base2(power)
    else:
        uniform = np.random.default_rng(seed).uniform(size=(max(count - 1, 1), parameters.P))
    thetas = [parameters.theta] + list(lower + uniform[:count - 1] * (upper - lower))
    starts = []
    for theta in thetas:
        s, p, r = parameters.expand(theta)
        starts.append({'sigma': s.tolist(), 'pi': p.tolist(), 'rho': r[:, 0].tolist(), 'theta': list(map(float, theta))})
    return starts


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
    `hessian_eigenvalues` and optionally numeric `statistics` (e.g. the mean own-price elasticity) whose spread
    across acceptable starts is reported.
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
    for name in statistics or ():
        values = [starts[index][name] for index in usable if starts[index].get(name) is not None]
        if values:
            spread[name] = {'min': float(np.min(values)), 'max': float(np.max(values)),
                            'range': float(np.ptp(values))}
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
