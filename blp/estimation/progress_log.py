"""PyBLP's progress log of an optimization, printed when `blp.options.verbose`: one row per objective evaluation
(GMM step, time, optimizer iterations, objective evaluations, the contraction's iterations and evaluations, clipped
shares and costs where bounded, the objective and its improvement on the smallest so far, the (projected) gradient
norm when the optimizer uses gradients, theta), the header above the first row and again every 50 evaluations."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

from blp import options, status
from blp.printing import clock, format_number, section


@dataclass
class Columns:
    """Which optional columns the step's table has (PyBLP's rules)."""

    clipped_shares: bool  # shares_bounds has a finite bound
    clipped_costs: bool   # costs_bounds has a finite bound
    gradient: bool        # the optimizer uses gradients
    projected: bool       # some parameter is bounded: the gradient norm is the projected one's


@dataclass
class Row:
    """One evaluation's numbers."""

    step: int
    seconds: float
    iterations: int
    evaluations: int
    fp_iterations: int
    contraction_evaluations: int
    clipped_costs: int
    objective: float
    smallest: float  # the smallest objective before this evaluation
    gradient_norm: float
    theta: Sequence[float]


def row_lines(row: Row, columns: Columns) -> list[str]:
    """The row as PyBLP lays it out: with the header lines and rule above it on evaluations 1, 51, 101, ..., and a
    blank line before a repeated header."""
    headers = [['GMM', 'Step'], ['Computation', 'Time'], ['Optimization', 'Iterations'], ['Objective', 'Evaluations'],
               ['Fixed Point', 'Iterations'], ['Contraction', 'Evaluations']]
    values = [str(row.step), clock(row.seconds), str(row.iterations), str(row.evaluations), str(row.fp_iterations),
              str(row.contraction_evaluations)]
    if columns.clipped_shares:
        headers.append(['Clipped', 'Shares'])
        values.append('0')  # the contraction does not clip shares
    if columns.clipped_costs:
        headers.append(['Clipped', 'Costs'])
        values.append(str(row.clipped_costs))
    improvement = row.smallest - row.objective
    headers += [['Objective', 'Value'], ['Objective', 'Improvement']]
    values += [format_number(row.objective),
               format_number(improvement) if math.isfinite(improvement) and improvement > 0 else
               ' ' * len(format_number(improvement))]
    if columns.gradient:
        headers.append(['Projected', 'Gradient Norm'] if columns.projected else ['Gradient', 'Norm'])
        values.append(format_number(row.gradient_norm))
    headers.append(['', 'Theta'])
    values.append(', '.join(format_number(value) for value in row.theta))
    lines = section(headers, [values])
    if (row.evaluations - 1) % 50:
        return lines[-1:]
    return ([''] if row.evaluations > 1 else []) + lines


def log_row(row: Row, columns: Columns) -> None:
    """Output the row (formatted only when `options.verbose`: the log costs nothing otherwise)."""
    if options.verbose:
        status.output('\n'.join(row_lines(row, columns)))


def finished(converged: bool, seconds: float, message: str = '') -> None:
    """PyBLP's closing lines of an optimization, after the optimizer's message when it failed to converge."""
    if not converged:
        status.output('')
        status.output(f'The optimization routine failed to converge ({message}). Other starting values, tighter '
                      f'bounds or other optimization settings may help.')
        status.output('')
    status.output('')
    status.output(f"Optimization {'completed' if converged else 'failed'} after {clock(seconds)}.")


def results_step(last: bool, hessian: Optional[bool]) -> None:
    """What PyBLP says it computes after a step's optimization."""
    if hessian and last:
        status.output('Computing the Hessian and estimating standard errors ...')
    elif last:
        status.output('Estimating standard errors ...')
    else:
        status.output('Updating the weighting matrix ...')
