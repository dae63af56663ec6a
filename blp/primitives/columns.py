"""Numbered columns (`demand_instruments0..`, `supply_instruments0..`, `nodes0..`, `ownership0..`) read by PyBLP's
rule, and PyBLP's collinearity check, shared by the demand and supply sides.

PyBLP's rule for a matrix field `name`: a column called `name` itself is the whole field; otherwise `name0`,
`name1`, ... are stacked up to the first missing number, and any numbered column after that gap is ignored (we say
so in a warning, which PyBLP does not). A column collinear with the ones before it is a warning, as in PyBLP; the
estimate goes on, and a step that cannot (the 2SLS weighting matrix of collinear instruments) fails naming them.
"""

from __future__ import annotations

import re
from typing import Optional, Sequence

import numpy as np
import pandas as pd
import scipy.linalg

from blp import options


def _numbered(frame: pd.DataFrame, prefix: str) -> list[tuple[int, str]]:
    pattern = re.compile(rf'^{re.escape(prefix)}(\d+)$')
    return sorted((int(match.group(1)), column) for column in frame.columns
                  if isinstance(column, str) and (match := pattern.match(column)))


def numbered_columns(frame: pd.DataFrame, prefix: str) -> list[str]:
    """The columns PyBLP reads for the field `prefix`: `prefix` itself if there is such a column, else `prefix0`,
    `prefix1`, ... up to the first missing number."""
    if prefix in frame.columns:
        return [prefix]
    columns: list[str] = []
    while f'{prefix}{len(columns)}' in frame.columns:
        columns.append(f'{prefix}{len(columns)}')
    return columns


def ignored_columns(frame: pd.DataFrame, prefix: str) -> list[str]:
    """Numbered `prefix<n>` columns that PyBLP's rule leaves out (after a gap, or all of them when a `prefix`
    column is the field), in numeric order."""
    used = set(numbered_columns(frame, prefix))
    return [column for _, column in _numbered(frame, prefix) if column not in used]


def numbering_warning(frame: pd.DataFrame, prefix: str, dataset: str) -> Optional[str]:
    """What `numbered_columns` leaves out of `prefix`, as a warning (None when it uses every such column)."""
    ignored = ignored_columns(frame, prefix)
    if not ignored:
        return None
    used = numbered_columns(frame, prefix)
    if used == [prefix]:
        reason = f"the {prefix!r} column is the whole field, as in PyBLP"
    elif used:
        reason = f"as in PyBLP, {prefix} columns are read from {prefix}0 up to the first missing number " \
                 f"({prefix}{len(used)}): {', '.join(used)} are used"
    else:
        reason = f"as in PyBLP, {prefix} columns are read from {prefix}0 up to the first missing number, and " \
                 f"there is no {prefix}0"
    return f"{dataset} columns {', '.join(ignored)} are ignored: {reason}; renumber them to use them"


def collinear_columns(matrix: np.ndarray) -> np.ndarray:
    """Which columns are collinear with the columns before them by PyBLP's rule: |R_kk| of the QR decomposition below
    `options.collinear_atol + options.collinear_rtol * (the column's standard deviation)`, the options read now (both
    0: no column is)."""
    collinear = np.zeros(matrix.shape[1], dtype=bool)
    atol, rtol = float(options.collinear_atol), float(options.collinear_rtol)
    if matrix.size and (atol or rtol):
        R = scipy.linalg.qr(matrix, mode='r')[0]
        size = min(matrix.shape)
        collinear[:size] = np.abs(np.diagonal(R)) < atol + rtol * matrix.std(axis=0)[:size]
    return collinear


def collinearity_warning(matrix: np.ndarray, labels: Sequence[str], name: str, absorbs: bool,
                         order: Optional[Sequence[int]] = None) -> Optional[str]:
    """PyBLP's collinearity warning for `matrix` (fixed effects already absorbed), checked with the columns in
    `order` (PyBLP's order, so that the same columns are named), or None."""
    order = list(range(len(labels))) if order is None else list(order)
    collinear = collinear_columns(matrix[:, order])
    if not collinear.any():
        return None
    named = [labels[index] for index, flag in zip(order, collinear) if flag]
    which = f'column {named[0]!r} is' if len(named) == 1 else f"columns {', '.join(map(repr, named))} are"
    with_fe = ' (absorbed fixed effects may be what makes it so)' if absorbs else ''
    return f"{name} {which} collinear with other columns of {name}{with_fe}; PyBLP warns and goes on, but the " \
           f"estimates may not be identified"


def pyblp_order(columns: int, exogenous: int) -> list[int]:
    """Column indices of an instrument matrix in PyBLP's order: ours puts the `exogenous` characteristics first and
    the excluded instruments after them, PyBLP the excluded instruments first."""
    return list(range(exogenous, columns)) + list(range(exogenous))
