"""What `print(simulation)` and `print(simulation_results)` show, in PyBLP's layout: the simulation's dimensions,
formulations and true parameter values; the results' `Simulation Results Summary`. Tables come from
`blp.estimation.summary` and `blp.printing` (numbers by `options.digits`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from blp.estimation.summary import matrix_section, problem_summary, vector_table
from blp.printing import clock, format_number, side_by_side, statistics_table, table

if TYPE_CHECKING:  # the simulation and its results print themselves through this module
    from blp.simulation.results import SimulationResults
    from blp.simulation.simulation import Simulation


def _nonlinear_table(simulation: Simulation) -> list[str]:
    """Sigma (lower triangle), sigma squared when sigma has nonzero off-diagonal elements, and pi, side by side."""
    problem = simulation._base_problem
    if not problem.K2:
        return []
    labels, sigma = list(problem.X2_labels), np.asarray(simulation.sigma, dtype=float)
    everywhere = np.ones_like(sigma, dtype=bool)
    sections = [matrix_section('Sigma:', labels, labels, sigma, None, everywhere, True)]
    if np.tril(sigma, -1).any():
        sections.append(matrix_section('Sigma Squared:', labels, labels, sigma @ sigma.T, None, everywhere, False))
    if problem.D:
        pi = np.asarray(simulation.pi, dtype=float)
        sections.append(matrix_section('Pi:', labels, list(problem.demographics_labels), pi, None,
                                       np.ones_like(pi, dtype=bool), False))
    return [table('Nonlinear Coefficient True Values', side_by_side(sections))]


def simulation_summary(simulation: Simulation) -> str:
    """PyBLP's printed `Simulation`: dimensions, formulations, then the true values of the nonlinear parameters,
    rho, beta and gamma."""
    problem = simulation._base_problem
    tables = [problem_summary(problem, simulation), *_nonlinear_table(simulation)]
    if problem.H:
        rho = np.asarray(simulation.rho, dtype=float)[:, 0]
        labels = ['All Groups'] if rho.size == 1 else [str(label) for label in simulation.unique_nesting_ids[:, 0]]
        tables.append(vector_table('Rho True Values', labels, rho, None, np.ones(rho.size, dtype=bool)))
    beta = np.asarray(simulation.beta, dtype=float)[:, 0]
    tables.append(vector_table('Beta True Values', list(problem.X1_labels), beta, None, np.ones(beta.size, dtype=bool)))
    if problem.supply is not None:
        gamma = np.asarray(simulation.gamma, dtype=float)[:, 0]
        tables.append(vector_table('Gamma True Values', list(problem.supply.X3_labels), gamma, None,
                                   np.ones(gamma.size, dtype=bool)))
    return '\n\n'.join(tables)


def results_summary(results: SimulationResults) -> str:
    """PyBLP's `Simulation Results Summary`: time, fixed point failures and iterations, contraction evaluations, and
    the profit gradients' largest norm and the Hessians' extreme eigenvalues when they were computed."""
    columns = [(['Computation', 'Time'], clock(results.computation_time)),
               (['Fixed Point', 'Failures'], str(int((~np.asarray(results.fp_converged, dtype=bool)).sum()))),
               (['Fixed Point', 'Iterations'], str(int(np.sum(results.fp_iterations)))),
               (['Contraction', 'Evaluations'], str(int(np.sum(results.contraction_evaluations))))]
    norms = [value for by in results.profit_gradient_norms.values() for value in by.values()]
    if norms:
        columns.append((['Profit Gradients', 'Max Norm'], format_number(max(norms))))
    eigenvalues = [float(value) for by in results.profit_hessian_eigenvalues.values() for values in by.values()
                   for value in np.ravel(values)]
    if eigenvalues:
        columns += [(['Profit Hessians', 'Min Eigenvalue'], format_number(min(eigenvalues))),
                    (['Profit Hessians', 'Max Eigenvalue'], format_number(max(eigenvalues)))]
    return statistics_table('Simulation Results Summary', columns)
