"""What a simulation draws where the data are silent, in PyBLP's order, so that a seed gives PyBLP's numbers.

One `numpy.random.RandomState(seed)` draws, in turn: shares (standard uniform over J_t), prices, the variables of the
X1, X2 and X3 formulations that product data lack (each formulation's names sorted, N standard uniforms each), the
demographics that agent data lack (I each), then xi and omega together from a mean-zero bivariate normal. With
`phi` and `lag_indices` those draws are the innovations of PyBLP's AR(1) process: a product's first-period draw is
scaled to the stationary covariance, each later period adds phi times its lag.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import pandas as pd
import scipy.linalg

from blp.configurations.formulation import Formulation
from blp.estimation.persistence import Lags
from blp.exceptions import DataError, SpecificationError

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
                       state: np.random.RandomState, autocorrelation: Optional[tuple[np.ndarray, Lags]] = None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """xi and omega (N each), mean-zero bivariate normal with the given variances and correlation; with
    `autocorrelation` (phi, lags) the AR(1) process those draws are the innovations of."""
    if xi_variance < 0 or omega_variance < 0 or not -1 <= correlation <= 1:
        raise SpecificationError('xi_variance and omega_variance must be non-negative and correlation in [-1, 1]',
                                 parameter='correlation')
    covariance = correlation * np.sqrt(xi_variance * omega_variance)
    covariances = np.array([[xi_variance, covariance], [covariance, omega_variance]])
    draws = state.multivariate_normal([0, 0], covariances, size=N)
    if autocorrelation is not None:
        draws = autoregressive(draws, *autocorrelation, covariances)
    return draws[:, 0], draws[:, 1]


def autoregressive(innovations: np.ndarray, phi: np.ndarray, lags: Lags, covariances: np.ndarray) -> np.ndarray:
    """x = phi L x + innovation, first periods drawn from the stationary distribution (V = phi V phi' + Sigma),
    period after period along each product's lags."""
    if np.abs(np.linalg.eigvals(phi)).max() >= 1:
        raise SpecificationError('phi must have its eigenvalues inside the unit circle to draw stationary '
                                 'unobservables', parameter='phi')
    try:
        root = scipy.linalg.cholesky(covariances, lower=True)
        stationary = scipy.linalg.cholesky(scipy.linalg.solve_discrete_lyapunov(phi, covariances), lower=True)
    except np.linalg.LinAlgError:
        raise SpecificationError('the covariance of xi and omega must be positive definite to draw autocorrelated '
                                 'unobservables (correlation strictly inside (-1, 1))', parameter='correlation') from None
    values = np.array(innovations, dtype=float)
    first = ~lags.lagged
    values[first] = innovations[first] @ (stationary @ np.linalg.inv(root)).T
    done = first.copy()
    while not done.all():
        ready = ~done & done[lags.indices]
        if not ready.any():
            row = int(np.flatnonzero(~done)[0])
            raise DataError(f'product_data lag_indices: row {row} never reaches a first period (its lags form a '
                            f'cycle)', column='lag_indices', row=row, dataset='product_data')
        values[ready] += values[lags.indices[ready]] @ phi.T
        done |= ready
    return values
