"""What `print(problem)` and `print(results)` show, in PyBLP's layout: the problem's dimensions and formulations; the
results' summary statistics, cumulative statistics and estimates with standard errors in parentheses (numbers by
`options.digits`). PyBLP users read these tables first; the columns and their order are PyBLP's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np

from blp.estimation.persistence import moment_types
from blp.printing import clock, format_number, format_se, section, side_by_side, simple_table, statistics_table, table
from blp.supply.costs import bounds

if TYPE_CHECKING:  # the problem and the results print themselves through this module
    from blp.estimation.problem import Problem
    from blp.estimation.results import ProblemResults


def dimensions(economy: object) -> dict[str, int]:
    """PyBLP's dimensions of a problem or a simulation in its order, those that are zero left out (T, N and K1
    always shown)."""
    values = {name: getattr(economy, name) for name in ('T', 'N', 'F', 'I', 'K1', 'K2', 'K3', 'D', 'MD', 'MS', 'MC',
                                                          'ED', 'ES', 'H')}
    return {name: value for name, value in values.items() if value or name in ('T', 'N', 'K1')}


def problem_summary(problem: Problem, economy: Optional[object] = None) -> str:
    """PyBLP's `Dimensions` and `Formulations` tables; the dimensions are those of `economy` (a simulation) when
    given, else the problem's."""
    shown = dimensions(problem if economy is None else economy)
    parts = [simple_table('Dimensions', [[f' {name} '] for name in shown], [[str(value) for value in shown.values()]])]
    rows = [('X1: Linear Characteristics', problem.X1_labels)]
    if problem.K2:
        rows.append(('X2: Nonlinear Characteristics', problem.X2_labels))
    if problem.supply is not None:
        costs = 'Log' if problem.costs_type == 'log' else 'Linear'
        rows.append((f'X3: {costs} Cost Characteristics', problem.supply.X3_labels))
    if problem.D:
        rows.append(('d: Demographics', problem.demographics_labels))
    width = max(len(labels) for _, labels in rows)
    headers = [['Column Indices:']] + [[f' {index} '] for index in range(width)]
    parts.append(simple_table('Formulations', headers, [[name, *labels, *[''] * (width - len(labels))]
                                                        for name, labels in rows]))
    return '\n\n'.join(parts)


def _condition_number(matrix: Optional[np.ndarray]) -> float:
    matrix = np.asarray(matrix if matrix is not None else np.zeros((0, 0)), dtype=float)
    if not matrix.size or not np.isfinite(matrix).all():
        return float('nan')
    return float(np.linalg.cond(matrix))


def _summary_columns(results: ProblemResults) -> list[tuple[list[str], str]]:
    """The `Problem Results Summary` columns: (header lines, value)."""
    P = len(results.theta)
    bounded = results.optimization.supports_bounds  # PyBLP's labels say 'projected' and 'reduced' then
    columns = [(['GMM', 'Step'], str(results.step)), (['Objective', 'Value'], format_number(results.objective))]
    if P:
        columns.append((['Projected', 'Gradient Norm'] if bounded else ['Gradient', 'Norm'],
                        format_number(results.projected_gradient_norm)))
        eigenvalues = np.asarray(results.reduced_hessian_eigenvalues, dtype=float)
        smallest, largest = (eigenvalues.min(), eigenvalues.max()) if eigenvalues.size else (np.nan, np.nan)
        hessian = ['Reduced Hessian'] if bounded else ['Hessian']
        if P == 1:
            columns.append((['Reduced', 'Hessian'] if bounded else ['Hessian'], format_number(smallest)))
        else:
            columns += [(hessian + ['Min Eigenvalue'], format_number(smallest)),
                        (hessian + ['Max Eigenvalue'], format_number(largest))]
    columns.append((['Clipped', 'Shares'], str(int(np.sum(results.clipped_shares)))))
    if results.problem.supply is not None and np.isfinite(bounds(results.options.costs_bounds)).any():
        columns.append((['Clipped', 'Costs'], str(results.clipped_costs)))  # PyBLP: only under a finite bound
    columns.append((['Weighting Matrix', 'Condition Number'], format_number(_condition_number(results.W))))
    covariances = results.parameter_covariances
    if covariances is not None and np.asarray(covariances).shape[0] > 1:
        columns.append((['Covariance Matrix', 'Condition Number'], format_number(_condition_number(covariances))))
    return columns


def _cumulative_columns(results: ProblemResults) -> list[tuple[list[str], str]]:
    """The `Cumulative Statistics` columns: (header lines, value)."""
    columns = [(['Computation', 'Time'], clock(results.cumulative_total_time))]
    if len(results.theta):
        columns += [(['Optimizer', 'Converged'], 'Yes' if results.cumulative_converged else 'No'),
                    (['Optimization', 'Iterations'], str(results.cumulative_optimization_iterations))]
    columns.append((['Objective', 'Evaluations'], str(results.cumulative_objective_evaluations)))
    if results.problem.K2:
        columns += [(['Fixed Point', 'Iterations'], str(results.cumulative_fp_iterations)),
                    (['Contraction', 'Evaluations'], str(results.cumulative_contraction_evaluations))]
    return columns


def se_description(results: ProblemResults) -> str:
    """PyBLP's `Robust SEs`, `Unadjusted SEs` or `Robust SEs Adjusted for 999 Clusters`."""
    se_type = results.options.se_type
    if se_type == 'clustered':
        clusters = results.problem.products.clustering_ids
        return f'Robust SEs Adjusted for {len(np.unique(clusters)) if clusters is not None else 0} Clusters'
    return 'Unadjusted SEs' if se_type == 'unadjusted' else 'Robust SEs'


def _cell(value: float, se: float, show: bool) -> tuple[str, str]:
    return format_number(value), format_se(se) if show else ''


def matrix_section(title: str, row_labels: Sequence[str], column_labels: Sequence[str], values: np.ndarray,
                   ses: Optional[np.ndarray], shown: np.ndarray, lower: bool) -> list[str]:
    """One side of a nonlinear table: per row label a row of values and, with `ses` (estimates), a row of SEs and a
    blank row between labels; without `ses` (true values) only the values; `lower`: only the lower triangle."""
    rows: list[list[str]] = []
    for row, label in enumerate(row_labels):
        if rows and ses is not None:
            rows.append([''] * (len(column_labels) + 1))
        cells = [_cell(values[row, column], np.nan if ses is None else ses[row, column], bool(shown[row, column]))
                 if not lower or column <= row else ('', '') for column in range(len(column_labels))]
        rows.append([label, *[value for value, _ in cells]])
        if ses is not None:
            rows.append(['', *[se for _, se in cells]])
    return section([[title], *[[label] for label in column_labels]], rows)


def _free(results: ProblemResults, kind: str, shape: tuple[int, ...]) -> np.ndarray:
    free = np.zeros(shape, dtype=bool)
    for parameter in results._estimation.parameters.unfixed:
        if parameter.kind == kind:
            free[parameter.location] = True
    return free


def vector_table(title: str, labels: Sequence[str], values: np.ndarray, ses: Optional[np.ndarray],
                 shown: np.ndarray) -> str:
    """A row of values under their labels and, with `ses` (estimates), a row of SEs."""
    cells = [_cell(value, np.nan if ses is None else ses[index], bool(show))
             for index, (value, show) in enumerate(zip(values, shown))]
    rows = [[value for value, _ in cells]] + ([[se for _, se in cells]] if ses is not None else [])
    return simple_table(title, [[label] for label in labels], rows)


def estimate_tables(results: ProblemResults) -> list[str]:
    """The estimates: nonlinear (sigma, sigma squared when sigma has free off-diagonal elements, pi), rho, beta and
    gamma, each value above its SE."""
    problem, description = results.problem, se_description(results)
    tables = []
    K2 = problem.K2
    if K2:
        labels = results.sigma_labels
        sigma_free = _free(results, 'sigma', (K2, K2))
        sections = [matrix_section('Sigma:', labels, labels, results.sigma, results.sigma_se, sigma_free, True)]
        if np.tril(sigma_free, -1).any():
            sections.append(matrix_section('Sigma Squared:', labels, labels, results.sigma_squared,
                                            results.sigma_squared_se, np.ones((K2, K2), dtype=bool), False))
        if problem.D:
            sections.append(matrix_section('Pi:', labels, results.pi_labels, results.pi, results.pi_se,
                                            _free(results, 'pi', results.pi.shape), False))
        tables.append(table(f'Nonlinear Coefficient Estimates ({description} in Parentheses)', side_by_side(sections)))
    if problem.H:
        tables.append(vector_table(f'Rho Estimates ({description} in Parentheses)', results.rho_labels,
                                    results.rho[:, 0], results.rho_se[:, 0], _free(results, 'rho', results.rho.shape)))
    tables.extend(phi_table(results, description))
    concentrated = results._estimation.parameters.concentrated_beta
    beta_shown = concentrated | _free(results, 'beta', results.beta.shape)[:, 0]
    tables.append(vector_table(f'Beta Estimates ({description} in Parentheses)', results.beta_labels,
                                results.beta[:, 0], results.beta_se[:, 0], beta_shown))
    if problem.supply is not None:
        tables.append(vector_table(f'Gamma Estimates ({description} in Parentheses)', results.gamma_labels,
                                    results.gamma[:, 0], results.gamma_se[:, 0],
                                    np.ones(len(results.gamma_labels), dtype=bool)))
    return tables


def phi_table(results: ProblemResults, description: str) -> list[str]:
    """PyBLP's `Phi Estimates`: a vector under `Xi` for demand alone, else the matrix with a row of SEs under each
    row of values (no blank row between)."""
    phi, labels = results.phi, results.phi_labels
    if not phi.size:
        return []
    title, shown = f'Phi Estimates ({description} in Parentheses)', _free(results, 'phi', phi.shape)
    if phi.size == 1:
        return [vector_table(title, labels, phi[0], results.phi_se[0], shown[0])]
    rows = []
    for row, label in enumerate(labels):
        cells = [_cell(phi[row, column], results.phi_se[row, column], bool(shown[row, column]))
                 for column in range(len(labels))]
        rows.extend([[label, *[value for value, _ in cells]], ['', *[se for _, se in cells]]])
    return [simple_table(title, [[''], *[[label] for label in labels]], rows)]


def moment_counts_tables(results: ProblemResults) -> list[str]:
    """PyBLP's `Demand Moment Counts` (and `Supply ...`) when a side's moments are not in levels."""
    options, problem = results.options, results.problem
    sides = [('Demand', moment_types(options.demand_moment_types, 'demand', problem.MD))] + \
        ([('Supply', moment_types(options.supply_moment_types, 'supply', problem.MS))] if problem.supply is not None
         else [])
    if all(kind == 'levels' for _, types in sides for kind, _ in types):
        return []
    return [simple_table(f'{side} Moment Counts', [[kind] for kind, _ in types], [[str(count) for _, count in types]])
            for side, types in sides]


def micro_table(results: ProblemResults) -> list[str]:
    """PyBLP's `Estimated Micro Moments`: per moment its observed and estimated values and their difference, then
    one row per part with its dataset, observations and markets (`All` or how many)."""
    rows = []
    moments = [moment for block in results._estimation.moments.micro for moment in block.compiled.moments]
    for index, moment in enumerate(moments):
        for number, part in enumerate(moment.parts):
            dataset = part.dataset
            values = [format_number(results.micro_observed[index]), format_number(results.micro_values[index, 0]),
                      format_number(results.micro[index, 0]), moment.name] if number == 0 else [''] * 4
            markets = 'All' if dataset.market_ids is None else str(len(dataset.market_ids))
            rows.append([*values, part.name, dataset.name, str(dataset.observations), markets])
    if not rows:
        return []
    headers = [['Observed'], ['Estimated'], ['Difference'], ['Moment'], ['Part'], ['Dataset'], ['Observations'],
               ['Markets']]
    return [simple_table('Estimated Micro Moments', headers, rows)]


def results_summary(results: ProblemResults) -> str:
    """PyBLP's printed `ProblemResults`."""
    return '\n\n'.join([statistics_table('Problem Results Summary', _summary_columns(results)),
                        statistics_table('Cumulative Statistics', _cumulative_columns(results)),
                        *estimate_tables(results), *micro_table(results), *moment_counts_tables(results)])
