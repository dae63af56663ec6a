"""What a simulation draws where the data are silent, in PyBLP's order, so that a seed gives PyBLP's numbers.

One `numpy.random.RandomState(seed)` draws, in turn: shares (standard uniform over J_t), prices, the variables of the
X1, X2 and X3 formulations that product data lack (each formulation's names sorted, N standard uniforms each), the
demographics that agent data lack (I each), then xi and omega together from a mean-zero bivariate normal.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import pandas as pd

from blp.configurations.formulation import Formulation
from blp.exceptions import SpecificationError

ENDOGENOUS = ('shares', 'prices')


def draw_products(frame: pd.DataFrame, formulations: Sequence[Optional[Formulation]], counts: np.ndarray,
                  state: np.random.RandomState) -> pd.DataFrame:
    """`frame` with shares, prices and every formulated variable it lacks drawn; `counts` is J_t per row."""
    frame = frame.copy()
    N = len(frame)
    if 'shares' not in frame.columns:
        frame['shares'] = state.uniform(size=N) / counts
    if 'prices' not in frame.columns:
        frame['prices'] = state.uniform(size=N)
    for index, formulation in enumerate(formulations):
        if formulation is None:
            continue
        if formulation.absorb:
            raise SpecificationError('a simulation cannot absorb fixed effects (PyBLP neither)',
                                     parameter=f'product_formulations[{index}]')
        for name in sorted(formulation.column_names(f'X{index + 1} formulation') - set(ENDOGENOUS)):
            if name not in frame.columns:
                frame[name] = state.uniform(size=N)
    return frame


def draw_demographics(frame: pd.DataFrame, formulation: Optional[Formulation],
                      state: np.random.RandomState) -> pd.DataFrame:
    """Agent `frame` with the demographics `formulation` reads and it lacks drawn."""
    if formulation is None:
        return frame
    frame = frame.copy()
    for name in sorted(formulation.column_names('agent formulation')):
        if name not in frame.columns:
            frame[name] = state.uniform(size=len(frame))
    return frame


def draw_unobservables(N: int, xi_variance: float, omega_variance: float, correlation: float,
                       state: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    """xi and omega (N each), mean-zero bivariate normal with the given variances and correlation."""
    if xi_variance < 0 or omega_variance < 0 or not -1 <= correlation <= 1:
        raise SpecificationError('xi_variance and omega_variance must be non-negative and correlation in [-1, 1]',
                                 parameter='correlation')
    covariance = correlation * np.sqrt(xi_variance * omega_variance)
    draws = state.multivariate_normal([0, 0], [[xi_variance, covariance], [covariance, omega_variance]], size=N)
    return draws[:, 0], draws[:, 1]
