"""PyBLP's `ProblemResults.to_dict()`: its 75 attribute names with its values and types. Where our attribute has
another form for the JSON document and the summary (counts summed, vectors flat), the dictionary holds PyBLP's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from blp.estimation.parameters import Parameters

if TYPE_CHECKING:  # only read: the results module imports this one
    from blp.estimation.results import ProblemResults

ATTRIBUTES = (
    'step', 'optimization_time', 'cumulative_optimization_time', 'total_time', 'cumulative_total_time', 'converged',
    'cumulative_converged', 'optimization_iterations', 'cumulative_optimization_iterations', 'objective_evaluations',
    'cumulative_objective_evaluations', 'fp_converged', 'cumulative_fp_converged', 'fp_iterations',
    'cumulative_fp_iterations', 'contraction_evaluations', 'cumulative_contraction_evaluations', 'parameters',
    'parameter_covariances', 'parameter_sensitivity', 'theta', 'sigma', 'sigma_squared', 'pi', 'rho', 'phi', 'beta',
    'gamma', 'sigma_se', 'sigma_squared_se', 'pi_se', 'rho_se', 'phi_se', 'beta_se', 'gamma_se', 'sigma_bounds',
    'pi_bounds', 'rho_bounds', 'phi_bounds', 'beta_bounds', 'gamma_bounds', 'sigma_labels', 'pi_labels', 'rho_labels',
    'phi_labels', 'beta_labels', 'gamma_labels', 'theta_labels', 'delta', 'tilde_costs', 'clipped_shares',
    'clipped_costs', 'xi', 'omega', 'xi_fe', 'omega_fe', 'micro', 'micro_values', 'micro_covariances', 'moments',
    'moments_jacobian', 'moments_covariances', 'simulation_covariances', 'objective', 'xi_by_theta_jacobian',
    'omega_by_theta_jacobian', 'micro_by_theta_jacobian', 'gradient', 'projected_gradient', 'projected_gradient_norm',
    'hessian', 'reduced_hessian', 'reduced_hessian_eigenvalues', 'W', 'updated_W',
)


def bounds(results: ProblemResults) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """PyBLP's sigma_bounds, ... gamma_bounds: (lower, upper) shaped as the parameters; a fixed element's bounds are
    its value, a concentrated-out or absent one's unbounded. PyBLP's 'return' takes bounds: its default ones."""
    parameters = results._estimation.parameters
    if results.optimization.method == 'return':
        parameters = Parameters.of(results.problem, results.options, bounded=True)
    free = {(parameter.kind, tuple(parameter.location)) for parameter in parameters.unfixed}
    found = {}
    for kind in ('sigma', 'pi', 'rho', 'phi', 'beta'):
        values = getattr(parameters.values, kind)
        lower, upper = (np.array(getattr(side, kind), dtype=float) for side in (parameters.lower, parameters.upper))
        for location in np.ndindex(values.shape):
            if (kind, location) not in free and np.isfinite(values[location]):
                lower[location] = upper[location] = values[location]
            elif not np.isfinite(values[location]):
                lower[location], upper[location] = -np.inf, np.inf
        found[f'{kind}_bounds'] = (lower, upper)
    if not parameters.values.phi.size:
        found['phi_bounds'] = (np.zeros((len(phi_labels(results)), 0)), np.zeros((len(phi_labels(results)), 0)))
    gamma = np.full(results.gamma.shape, np.inf)
    found['gamma_bounds'] = (-gamma, gamma)
    return found


def phi_labels(results: ProblemResults) -> list[str]:
    """PyBLP's: 'Xi', and 'Omega' with a supply side, whether or not there are covariance moments."""
    return results.phi_labels or ['Xi'] + (['Omega'] if results.problem.supply is not None else [])


def sensitivity(results: ProblemResults) -> np.ndarray:
    """The sensitivity of the estimates to the moments of Andrews, Gentzkow and Shapiro (2017), PyBLP's
    -(G' W G)^-1 G' W, under the W the standard errors use (an unadjusted first step's: S^-1)."""
    G, W = results.moments_jacobian, results.W
    if results.options.se_type == 'unadjusted' and results.step == 1:
        W = np.linalg.pinv(results.moments_covariances)
    with np.errstate(all='ignore'):
        return -np.linalg.pinv(G.T @ W @ G) @ G.T @ W


def pyblp_dict(results: ProblemResults, attributes: Sequence[str]) -> dict[str, Any]:
    """`attributes` of `results` in PyBLP's forms."""
    N, P = results.problem.N, results.theta.size
    E = len(phi_labels(results))
    nests = list(results.problem.nest_labels) if results.problem.H else []
    step_counts, all_counts = results._market_counts(), results._market_counts(cumulative=True)
    forms: dict[str, Any] = {
        'optimization_iterations': results._last_counts[0], 'objective_evaluations': results._last_counts[1],
        'fp_iterations': step_counts[1], 'contraction_evaluations': step_counts[2],
        'cumulative_fp_iterations': all_counts[1], 'cumulative_contraction_evaluations': all_counts[2],
        'phi': results.phi if results.phi.size else np.zeros((E, 0)),
        'phi_se': results.phi_se if results.phi.size else np.zeros((E, 0)),
        'phi_labels': phi_labels(results),
        'omega': results.omega if results.omega.size else np.zeros((N, 0)),
        'clipped_costs': results.clipped_costs_mask,
        'gradient': np.asarray(results.gradient, dtype=float).reshape(P, 1),
        'projected_gradient': np.asarray(results.projected_gradient, dtype=float).reshape(P, 1),
        'projected_gradient_norm': np.float64(results.projected_gradient_norm),
        # PyBLP labels rho by the nests, and one rho for all of them (ours: 'All Groups') by the first
        'rho_labels': [str(label) for label in nests],
        'theta_labels': [str(nests[0]) if label == 'All Groups' and nests else label for label in results.theta_labels],
    }
    return {name: forms[name] if name in forms else getattr(results, name) for name in attributes}
