"""The nonlinear parameters theta: which elements of sigma, pi and rho are free, their bounds and labels.

As in PyBLP, a zero in the starting sigma or pi fixes that element at zero; sigma is lower-triangular; theta
orders sigma's lower triangle row by row, then pi row by row, then rho.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from blp.exceptions import SpecificationError


@dataclass(frozen=True)
class Parameter:
    kind: str               # 'sigma', 'pi' or 'rho'
    location: tuple[int, int]
    label: str


def _matrix(values: Any, shape: tuple[int, int], name: str) -> np.ndarray:
    if values is None:
        return np.zeros(shape)
    try:
        matrix = np.array(values, dtype=float)
    except (TypeError, ValueError):
        raise SpecificationError(f'{name} must be a matrix of numbers', parameter=name) from None
    if matrix.ndim == 0 and shape[0] * shape[1] == 1 or matrix.size == shape[0] * shape[1] == 1:
        matrix = matrix.reshape(shape)
    if name == 'rho' and matrix.ndim == 1:
        matrix = matrix[:, None]
    if matrix.ndim == 0 and name == 'rho':
        matrix = matrix.reshape(1, 1)
    if matrix.shape != shape:
        raise SpecificationError(f'{name} must be {shape[0]} x {shape[1]} (got {matrix.shape[0] if matrix.ndim else 1} '
                                 f'x {matrix.shape[1] if matrix.ndim > 1 else 1})', parameter=name)
    if not np.isfinite(matrix).all():
        raise SpecificationError(f'{name} must be finite', parameter=name)
    return matrix


def _bounds(bounds: Any, start: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    if bounds is None:
        return np.full(start.shape, -np.inf), np.full(start.shape, np.inf)
    try:
        lower, upper = bounds
        lower = np.array(lower, dtype=float).reshape(start.shape)
        upper = np.array(upper, dtype=float).reshape(start.shape)
    except (TypeError, ValueError):
        raise SpecificationError(f'{name}_bounds must be a pair (lower, upper) of {start.shape[0]} x {start.shape[1]} '
                                 f'matrices', parameter=f'{name}_bounds') from None
    if np.isnan(lower).any() or np.isnan(upper).any() or (lower > upper).any():
        raise SpecificationError(f'{name}_bounds must have lower <= upper and no NaN', parameter=f'{name}_bounds')
    return lower, upper


class Parameters:
    """Maps between the vector theta the optimizer sees and the matrices sigma, pi and rho."""

    def __init__(self, sigma: Any, pi: Any, rho: Any, X2_labels: list[str], demographics_labels: list[str],
                 nest_labels: list[str], sigma_bounds: Any = None, pi_bounds: Any = None, rho_bounds: Any = None,
                 bounded: bool = False) -> None:
        K2, D, H = len(X2_labels), len(demographics_labels), len(nest_labels)
        if sigma is not None and K2 == 0:
            if np.any(np.asarray(sigma, dtype=float) != 0):
                raise SpecificationError('sigma is set but there is no X2 formulation (random coefficients need X2)',
                                         parameter='sigma')
        if K2 and sigma is None:
            raise SpecificationError(f'sigma is required: X2 has {K2} column(s) ({", ".join(X2_labels)}), so sigma '
                                     f'must be {K2} x {K2}', parameter='sigma')
        if pi is not None and D == 0 and np.any(np.asarray(pi, dtype=float) != 0):
            raise SpecificationError('pi is set but there are no demographics (agent_formulation)', parameter='pi')
        if rho is not None and H == 0 and np.any(np.asarray(rho, dtype=float) != 0):
            raise SpecificationError('rho is set but product data have no nesting_ids', parameter='rho')
        if H and rho is None:
            raise SpecificationError('rho is required: product data have nesting_ids', parameter='rho')
        self.sigma = _matrix(sigma if K2 else None, (K2, K2), 'sigma')
        if np.any(np.triu(self.sigma, 1) != 0):
            raise SpecificationError('sigma must be lower-triangular (it is the Cholesky root of the covariance)',
                                     parameter='sigma')
        self.pi = _matrix(pi if D and K2 else None, (K2, D), 'pi')
        rho_matrix = np.array(rho if rho is not None else [], dtype=float)
        rho_rows = 1 if rho_matrix.size == 1 else H
        self.rho = _matrix(rho if H else None, (rho_rows if H else 0, 1), 'rho')
        self.sigma_bounds = _bounds(sigma_bounds, self.sigma, 'sigma')
        self.pi_bounds = _bounds(pi_bounds, self.pi, 'pi')
        self.rho_bounds = _bounds(rho_bounds, self.rho, 'rho')
        self.X2_labels, self.demographics_labels = X2_labels, demographics_labels
        self.rho_labels = ['All Groups'] if self.rho.shape[0] == 1 and H else list(nest_labels)

        self.unfixed: list[Parameter] = []
        for row, column in zip(*np.tril_indices(K2)):
            self._add('sigma', self.sigma, self.sigma_bounds, (row, column),
                      f'sigma[{X2_labels[row]}, {X2_labels[column]}]', bounded and row == column and sigma_bounds is None)
        for row, column in np.ndindex(self.pi.shape):
            self._add('pi', self.pi, self.pi_bounds, (row, column), f'pi[{X2_labels[row]}, {demographics_labels[column]}]')
        for row in range(self.rho.shape[0]):
            self._add('rho', self.rho, self.rho_bounds, (row, 0), f'rho[{self.rho_labels[row]}]',
                      bounded and rho_bounds is None)
        for parameter in self.unfixed:
            bounds = getattr(self, f'{parameter.kind}_bounds')
            value = getattr(self, parameter.kind)[parameter.location]
            if not bounds[0][parameter.location] <= value <= bounds[1][parameter.location]:
                raise SpecificationError(f'the starting value {value} of {parameter.label} is outside its bounds '
                                         f'[{bounds[0][parameter.location]}, {bounds[1][parameter.location]}]',
                                         parameter=parameter.label)
        if self.rho.size and np.any(self.rho >= 1):
            raise SpecificationError('rho must be below 1 (rho -> 1 divides by zero)', parameter='rho')

    def _add(self, kind: str, values: np.ndarray, bounds: tuple[np.ndarray, np.ndarray], location: tuple[int, int],
             label: str, default_bounds: bool = False) -> None:
        """Register an element as free unless it starts at zero or its bounds pin it."""
        lower, upper = bounds
        if values[location] == 0 or lower[location] == upper[location]:
            if lower[location] == upper[location]:
                values[location] = lower[location]
            return
        if default_bounds:  # PyBLP's defaults with bounded optimizers: sigma's diagonal >= 0, rho in [0, 0.99]
            lower[location] = min(0.0, values[location])
            if kind == 'rho':
                upper[location] = max(0.99, values[location])
        self.unfixed.append(Parameter(kind, (int(location[0]), int(location[1])), label))

    @property
    def P(self) -> int:
        return len(self.unfixed)

    @property
    def labels(self) -> list[str]:
        return [parameter.label for parameter in self.unfixed]

    @property
    def theta(self) -> np.ndarray:
        return np.array([getattr(self, p.kind)[p.location] for p in self.unfixed], dtype=float)

    @property
    def bounds(self) -> list[tuple[float, float]]:
        return [(getattr(self, f'{p.kind}_bounds')[0][p.location], getattr(self, f'{p.kind}_bounds')[1][p.location])
                for p in self.unfixed]

    def expand(self, theta: np.ndarray, fill_fixed: Optional[float] = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """sigma, pi and rho matrices at theta (fixed elements keep their values, or `fill_fixed` if given)."""
        sigma, pi, rho = self.sigma.copy(), self.pi.copy(), self.rho.copy()
        if fill_fixed is not None:
            sigma[:], pi[:], rho[:] = fill_fixed, fill_fixed, fill_fixed
            sigma[np.triu_indices_from(sigma, 1)] = fill_fixed
        for value, parameter in zip(theta, self.unfixed):
            {'sigma': sigma, 'pi': pi, 'rho': rho}[parameter.kind][parameter.location] = value
        return sigma, pi, rho
