"""The instruments `SimulationResults.to_problem` adds by default, as PyBLP's: "sums of characteristics" BLP
instruments of the exogenous variables, plus the other side's shifters as they are.

Demand: BLP instruments of 1 and X1's exogenous variables, then the supply shifters (variables of X3 not in X1).
Supply: BLP instruments of 1 and X3's variables, then the demand shifters (variables of X1 not in X3). Constant columns
(the sums of ones when every market has the same firms' product counts, the rival sums when firms sell one product)
are dropped.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd

from blp.configurations.formulation import Formulation
from blp.primitives.instruments import build_blp_instruments
from blp.simulation.draws import ENDOGENOUS


def exogenous_variables(formulation: Optional[Formulation], frame: pd.DataFrame, where: str) -> list[str]:
    """The numeric data columns a formulation reads besides prices and shares, sorted."""
    if formulation is None:
        return []
    names = formulation.column_names(where) - set(ENDOGENOUS)
    return sorted(name for name in names if name in frame.columns and pd.api.types.is_numeric_dtype(frame[name]))


def _non_constant(columns: np.ndarray) -> np.ndarray:
    spread = np.ptp(columns, axis=0) if columns.shape[0] else np.zeros(columns.shape[1])
    scale = np.maximum(np.abs(columns).max(axis=0, initial=0.0), 1.0)
    return columns[:, spread > 1e-12 * scale]


def excluded_instruments(frame: pd.DataFrame, variables: list[str], shifters: list[str]) -> np.ndarray:
    """BLP instruments of 1 and `variables`, then the `shifters` columns, constant columns dropped (N x M)."""
    formula = ' + '.join(['1', *variables])
    sums = build_blp_instruments(Formulation(formula), frame)
    raw = frame[shifters].to_numpy(dtype=float) if shifters else np.zeros((len(frame), 0))
    return _non_constant(np.column_stack([sums, raw]))


def with_default_instruments(frame: pd.DataFrame, X1: Formulation, X3: Optional[Formulation]) -> pd.DataFrame:
    """`frame` with demand_instruments0.. (and supply_instruments0.. with a supply side) in place of any it had."""
    frame = frame.drop(columns=[c for c in frame.columns if str(c).startswith(('demand_instruments',
                                                                                 'supply_instruments'))])
    demand = exogenous_variables(X1, frame, 'X1 formulation')
    supply = exogenous_variables(X3, frame, 'X3 formulation')
    columns = {f'demand_instruments{index}': column for index, column in enumerate(
        excluded_instruments(frame, demand, [name for name in supply if name not in demand]).T)}
    if X3 is not None:
        columns.update({f'supply_instruments{index}': column for index, column in enumerate(
            excluded_instruments(frame, supply, [name for name in demand if name not in supply]).T)})
    return pd.concat([frame, pd.DataFrame(columns, index=frame.index)], axis=1)
