"""The nonlinear parameters theta: which elements of sigma, pi, rho, beta and gamma are free, their bounds and labels.

As in PyBLP, a zero in the starting sigma or pi fixes that element at zero; sigma is lower-triangular (an upper
triangle given is ignored, as PyBLP ignores it); theta orders sigma's lower triangle row by row, then pi row by row,
then rho, then phi (persistent unobservables, `blp.estimation.persistence`), then beta, then gamma. Beta is
concentrated out unless `beta` gives a starting value (None or NaN: concentrated; zero: fixed at zero; else optimized
over), which a supply side needs for the coefficient on prices, since markups depend on it; gamma likewise (PyBLP's
`solve(gamma=...)`: a number puts that element in theta). Each free element is a parameter object
that knows which matrix it lives in and which agent variable it multiplies, so nothing else branches on its kind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Optional, Protocol

import numpy as np
from numpy.typing import ArrayLike

from blp.configurations.solve_options import SolveOptions
from blp.exceptions import SpecificationError


class Labels(Protocol):
    """What parameters are built from: the names of X1's, X2's, the demographics' and the nests' columns (a
    `Problem`, or a stand-in that knows only the sizes)."""

    X1_labels: list[str]
    X2_labels: list[str]
    demographics_labels: list[str]
    nest_labels: list[str]


@dataclass(frozen=True)
class NonlinearValues:
    """The matrices theta fills: sigma (K2 x K2), pi (K2 x D), rho (H x 1, or 1 x 1 for one rho for all nests), beta
    and phi (E x E, E = 1 for demand, 2 with a supply side, 0 without lag_indices)."""

    sigma: np.ndarray
    pi: np.ndarray
    rho: np.ndarray
    beta: np.ndarray = field(default_factory=lambda: np.zeros((0, 1)))  # K1 x 1, NaN where concentrated out
    phi: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    gamma: np.ndarray = field(default_factory=lambda: np.zeros((0, 1)))  # K3 x 1, NaN where concentrated out

    def copy(self) -> 'NonlinearValues':
        return NonlinearValues(self.sigma.copy(), self.pi.copy(), self.rho.copy(), self.beta.copy(), self.phi.copy(),
                               self.gamma.copy())

    def filled(self, value: float) -> 'NonlinearValues':
        """The same shapes, every element `value` (sigma's upper triangle included)."""
        return NonlinearValues(np.full_like(self.sigma, value), np.full_like(self.pi, value),
                               np.full_like(self.rho, value), np.full_like(self.beta, value),
                               np.full_like(self.phi, value), np.full_like(self.gamma, value))


@dataclass(frozen=True)
class Parameter:
    """One free element of a nonlinear matrix."""

    location: tuple[int, int]
    label: str
    kind: ClassVar[str] = ''
    moves_delta: ClassVar[bool] = True  # whether delta(theta) depends on it (not beta, not phi)

    def matrix(self, values: NonlinearValues) -> np.ndarray:
        raise NotImplementedError

    def agent_variable(self, nodes: np.ndarray, demographics: np.ndarray) -> Optional[np.ndarray]:
        """The agent variable (T x I) this element multiplies in agents' coefficient on X2 column `location[0]`;
        None when it does not enter the coefficients."""
        return None


class SigmaParameter(Parameter):
    kind = 'sigma'

    def matrix(self, values: NonlinearValues) -> np.ndarray:
        return values.sigma

    def agent_variable(self, nodes: np.ndarray, demographics: np.ndarray) -> Optional[np.ndarray]:
        return nodes[:, :, self.location[1]]


class PiParameter(Parameter):
    kind = 'pi'

    def matrix(self, values: NonlinearValues) -> np.ndarray:
        return values.pi

    def agent_variable(self, nodes: np.ndarray, demographics: np.ndarray) -> Optional[np.ndarray]:
        return demographics[:, :, self.location[1]]


class RhoParameter(Parameter):
    kind = 'rho'

    def matrix(self, values: NonlinearValues) -> np.ndarray:
        return values.rho


class PhiParameter(Parameter):
    """An element of phi: the coefficient of equation `location[0]`'s unobservable on the lag of `location[1]`'s."""

    kind = 'phi'
    moves_delta = False

    def matrix(self, values: NonlinearValues) -> np.ndarray:
        return values.phi


class BetaParameter(Parameter):
    """A linear parameter optimized over instead of concentrated out (it does not move agents' coefficients)."""

    kind = 'beta'
    moves_delta = False

    def matrix(self, values: NonlinearValues) -> np.ndarray:
        return values.beta


class GammaParameter(Parameter):
    """A marginal-cost parameter optimized over instead of concentrated out (PyBLP's `gamma` with a number)."""

    kind = 'gamma'
    moves_delta = False

    def matrix(self, values: NonlinearValues) -> np.ndarray:
        return values.gamma


PARAMETER_CLASSES: dict[str, type[Parameter]] = {
    cls.kind: cls for cls in (SigmaParameter, PiParameter, RhoParameter, PhiParameter, BetaParameter, GammaParameter)}


RC_TYPES = ('linear', 'log')


def random_coefficient_types(rc_types: Any, X2_labels: list[str]) -> list[str]:
    """PyBLP's `rc_types`: one of 'linear' (normal, the default) or 'log' (lognormal: the column's coefficient is
    exp(Sigma_k nu + Pi_k d), which keeps its sign; beta on the same column in X1 is added outside the exponent,
    as in PyBLP) per X2 column."""
    K2 = len(X2_labels)
    if rc_types is None:
        return ['linear'] * K2
    if isinstance(rc_types, str) or not isinstance(rc_types, (list, tuple)):
        raise SpecificationError(f"rc_types must be a list of 'linear' or 'log', one per X2 column ({K2})",
                                 parameter='rc_types')
    if len(rc_types) != K2:
        raise SpecificationError(f"rc_types must have one entry per X2 column: X2 has {K2} "
                                 f"({', '.join(X2_labels) or 'none'}), rc_types has {len(rc_types)}",
                                 parameter='rc_types')
    for label, kind in zip(X2_labels, rc_types):
        if kind not in RC_TYPES:
            raise SpecificationError(f"rc_types entry {kind!r} for X2 column {label!r} is not 'linear' or 'log'",
                                     parameter='rc_types')
    return list(rc_types)



def _matrix(values: Any, shape: tuple[int, int], name: str) -> np.ndarray:
    if values is None:
        return np.zeros(shape)
    try:
        matrix = np.array(values, dtype=float)
    except (TypeError, ValueError):
        raise SpecificationError(f'{name} must be a matrix of numbers', parameter=name) from None
    if matrix.ndim == 0 and shape[0] * shape[1] == 1 or matrix.size == shape[0] * shape[1] == 1:
        matrix = matrix.reshape(shape)
    if name in ('rho', 'phi') and matrix.ndim == 1 and matrix.size == shape[0] * shape[1]:
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


def _linear(values: Any, K: int, name: str = 'beta', matrix_name: str = 'X1') -> np.ndarray:
    """K x 1 starting values of beta or gamma with NaN for the concentrated elements (None or NaN given)."""
    if values is None:
        return np.full((K, 1), np.nan)
    try:
        matrix = np.array([[np.nan if value is None else value] for value in np.asarray(values, dtype=object).ravel()],
                          dtype=float)
    except (TypeError, ValueError):
        raise SpecificationError(f'{name} must be numbers, with None (or NaN) for concentrated elements',
                                 parameter=name) from None
    if matrix.shape != (K, 1):
        raise SpecificationError(f'{name} must have {K} elements, one per {matrix_name} column (got '
                                 f'{matrix.shape[0]})', parameter=name)
    if np.isinf(matrix).any():
        raise SpecificationError(f'{name} must be finite (or None to concentrate an element out)', parameter=name)
    return matrix


def check_gamma(gamma: Any, gamma_bounds: Any, X3_labels: Optional[list[str]]) -> None:
    """`solve(gamma=..., gamma_bounds=...)` need a supply side; their shapes are checked by `Parameters`."""
    if (gamma is not None or gamma_bounds is not None) and X3_labels is None:
        raise SpecificationError('gamma and gamma_bounds need a supply side (an X3 formulation)',
                                 parameter='gamma' if gamma is not None else 'gamma_bounds')


def _check_rho(rho: np.ndarray, lower: np.ndarray, upper: np.ndarray, nest_labels: list[str]) -> None:
    """rho in [0, 1) (0 fixes it: plain logit within nests; rho -> 1 divides by zero and makes the nested
    contraction crawl), and finite bounds within [0, 1)."""
    for index, value in enumerate(rho[:, 0]):
        where = nest_labels[index] if rho.shape[0] > 1 and index < len(nest_labels) else 'all nests'
        if not 0 <= value < 1:
            raise SpecificationError(f'rho ({where}) must be in [0, 1): at least 0 (0 fixes it) and below 1 '
                                     f'(rho -> 1 divides by zero), not {value}', parameter='rho')
    for side, values in (('lower', lower), ('upper', upper)):
        finite = values[np.isfinite(values)]
        if np.any(finite < 0) or np.any(finite >= 1):
            raise SpecificationError(f'rho_bounds: the {side} bound must be in [0, 1) (or null for none), not '
                                     f'{float(finite[(finite < 0) | (finite >= 1)][0])}', parameter='rho_bounds')


def _X3_labels(problem: Labels) -> Optional[list[str]]:
    supply = getattr(problem, 'supply', None)
    return None if supply is None else list(supply.X3_labels)


class Parameters:
    """Maps between the vector theta the optimizer sees and the matrices sigma, pi and rho."""

    def __init__(self, sigma: Optional[ArrayLike],  # noqa: C901 - PyBLP's solve arguments, checked one by one
                 pi: Optional[ArrayLike], rho: Optional[ArrayLike], X2_labels: list[str], demographics_labels: list[str],
                 nest_labels: list[str], sigma_bounds: Optional[ArrayLike] = None,
                 pi_bounds: Optional[ArrayLike] = None, rho_bounds: Optional[ArrayLike] = None, bounded: bool = False,
                 beta: Any = None, X1_labels: Optional[list[str]] = None, beta_bounds: Any = None,
                 phi: Optional[ArrayLike] = None, phi_bounds: Optional[ArrayLike] = None,
                 phi_labels: Optional[list[str]] = None, gamma: Any = None, X3_labels: Optional[list[str]] = None,
                 gamma_bounds: Any = None) -> None:
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
        self.phi_labels = list(phi_labels or [])
        E = len(self.phi_labels)
        if phi is not None and not E and np.any(np.asarray(phi, dtype=float) != 0):
            raise SpecificationError('phi is set but product data have no lag_indices', parameter='phi')
        # sigma is the lower-triangular Cholesky root of the covariance: PyBLP 1.3.0 ignores a starting sigma's upper
        # triangle (it estimates and reports it as zeros), and so do we
        sigma_matrix = np.tril(_matrix(sigma if K2 else None, (K2, K2), 'sigma'))
        pi_matrix = _matrix(pi if D and K2 else None, (K2, D), 'pi')
        rho_rows = 1 if np.array(rho if rho is not None else [], dtype=float).size == 1 else H
        rho_matrix = _matrix(rho if H else None, (rho_rows if H else 0, 1), 'rho')
        X1_labels = list(X1_labels or [])
        beta_matrix = _linear(beta, len(X1_labels))
        self.X3_labels = list(X3_labels or [])
        gamma_matrix = _linear(gamma, len(self.X3_labels), 'gamma', 'X3')
        phi_matrix = _matrix(phi if E else None, (E, E), 'phi')
        self.values = NonlinearValues(sigma_matrix, pi_matrix, rho_matrix, beta_matrix, phi_matrix, gamma_matrix)
        sigma_lower, sigma_upper = _bounds(sigma_bounds, sigma_matrix, 'sigma')
        pi_lower, pi_upper = _bounds(pi_bounds, pi_matrix, 'pi')
        rho_lower, rho_upper = _bounds(rho_bounds, rho_matrix, 'rho')
        beta_lower, beta_upper = _bounds(beta_bounds, beta_matrix, 'beta')
        phi_lower, phi_upper = _bounds(phi_bounds, phi_matrix, 'phi')
        gamma_lower, gamma_upper = _bounds(gamma_bounds, gamma_matrix, 'gamma')
        _check_rho(rho_matrix, rho_lower, rho_upper, nest_labels)
        self.lower = NonlinearValues(sigma_lower, pi_lower, rho_lower, beta_lower, phi_lower, gamma_lower)
        self.upper = NonlinearValues(sigma_upper, pi_upper, rho_upper, beta_upper, phi_upper, gamma_upper)
        self.X1_labels = X1_labels
        self.X2_labels, self.demographics_labels = X2_labels, demographics_labels
        self.rho_labels = ['All Groups'] if rho_matrix.shape[0] == 1 and H else list(nest_labels)

        self.unfixed: list[Parameter] = []
        for lower_row, lower_column in zip(*np.tril_indices(K2)):
            row, column = int(lower_row), int(lower_column)
            self._add(SigmaParameter((row, column), f'sigma[{X2_labels[row]}, {X2_labels[column]}]'),
                      bounded and row == column and sigma_bounds is None)
        for row, column in np.ndindex(pi_matrix.shape):
            self._add(PiParameter((row, column), f'pi[{X2_labels[row]}, {demographics_labels[column]}]'))
        for nest in range(rho_matrix.shape[0]):
            self._add(RhoParameter((nest, 0), f'rho[{self.rho_labels[nest]}]'), bounded and rho_bounds is None)
        for row, column in np.ndindex(phi_matrix.shape):
            self._add(PhiParameter((row, column), f'phi[{self.phi_labels[row]}, {self.phi_labels[column]}]'))
        for k in map(int, np.flatnonzero(np.isfinite(beta_matrix[:, 0]))):
            self._add(BetaParameter((k, 0), f'beta[{X1_labels[k]}]'))
        for k in map(int, np.flatnonzero(np.isfinite(gamma_matrix[:, 0]))):
            self._add(GammaParameter((k, 0), f'gamma[{self.X3_labels[k]}]'))
        for parameter, value, (lower, upper) in zip(self.unfixed, self.theta, self.bounds):
            if not lower <= value <= upper:
                raise SpecificationError(f'the starting value {value} of {parameter.label} is outside its bounds '
                                         f'[{lower}, {upper}]', parameter=parameter.label)

    @classmethod
    def of(cls, problem: Labels, options: SolveOptions, bounded: Optional[bool] = None) -> 'Parameters':
        """The parameters `problem` estimates under `options` (a SolveOptions); `bounded` defaults to whether the
        optimizer takes bounds, which brings PyBLP's default bounds."""
        if bounded is None:
            bounded = options.optimization.supports_bounds
        return cls(options.sigma, options.pi, options.rho, problem.X2_labels, problem.demographics_labels,
                   problem.nest_labels, options.sigma_bounds, options.pi_bounds, options.rho_bounds, bounded=bounded,
                   beta=options.beta, X1_labels=problem.X1_labels, beta_bounds=options.beta_bounds,
                   phi=options.phi, phi_bounds=options.phi_bounds, phi_labels=getattr(problem, 'phi_labels', []),
                   gamma=options.gamma, X3_labels=_X3_labels(problem), gamma_bounds=options.gamma_bounds)

    def _add(self, parameter: Parameter, default_bounds: bool = False) -> None:
        """Register an element as free unless it starts at zero or its bounds pin it."""
        values, lower, upper = (parameter.matrix(side) for side in (self.values, self.lower, self.upper))
        location = parameter.location
        if values[location] == 0 or lower[location] == upper[location]:
            if lower[location] == upper[location]:
                values[location] = lower[location]
            return
        if default_bounds:  # PyBLP's defaults with bounded optimizers: sigma's diagonal >= 0, rho in [0, 0.99]
            lower[location] = min(0.0, values[location])
            if isinstance(parameter, RhoParameter):
                upper[location] = max(0.99, values[location])
        self.unfixed.append(parameter)

    @property
    def P(self) -> int:
        return len(self.unfixed)

    @property
    def labels(self) -> list[str]:
        return [parameter.label for parameter in self.unfixed]

    @property
    def theta(self) -> np.ndarray:
        return np.array([p.matrix(self.values)[p.location] for p in self.unfixed], dtype=float)

    @property
    def bounds(self) -> list[tuple[float, float]]:
        return [(p.matrix(self.lower)[p.location], p.matrix(self.upper)[p.location]) for p in self.unfixed]

    @property
    def concentrated_beta(self) -> np.ndarray:
        """K1 booleans: which linear parameters the IV step concentrates out."""
        return np.isnan(self.values.beta[:, 0])

    @property
    def concentrated_gamma(self) -> np.ndarray:
        """K3 booleans: which marginal-cost parameters the supply IV step concentrates out."""
        return np.isnan(self.values.gamma[:, 0])

    @property
    def free(self) -> list[list[Any]]:
        """Which elements are free, as JSON: [kind, [row, column]] per element of theta."""
        return [[p.kind, list(p.location)] for p in self.unfixed]

    def expand(self, theta: np.ndarray, fill_fixed: Optional[float] = None) -> NonlinearValues:
        """sigma, pi and rho at theta (fixed elements keep their values, or `fill_fixed` if given)."""
        values = self.values.copy() if fill_fixed is None else self.values.filled(fill_fixed)
        for value, parameter in zip(theta, self.unfixed):
            parameter.matrix(values)[parameter.location] = value
        return values
