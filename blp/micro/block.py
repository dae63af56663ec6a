"""The micro moment block: survey statistics matched by the model's choice probabilities, vectorized across each
dataset's markets (no concentrated linear parameters, its own covariance; `blp.estimation.moments.MomentStack` stacks it after
the linear blocks, as PyBLP orders them).

With Q_ij agent i's probability of choice j (j = 0 the outside good, Q_i0 = 1 - sum_j>0 Q_ij) the probability of
j first and k second when j is removed from the choice set is, for logit errors,

    pi_ijk = Q_ij Q_ik / (1 - Q_ij)  (k != j),   pi_ijj = 0;       first choices: pi_ij = Q_ij.

(With nests, second choices are PyBLP's s_ik(-j) - s_ik, in `blp.micro.nested`.)

Each part p's value is v_p = N_p / D_d with N_p = sum A_p pi and D_d = sum A_d pi (`blp.micro.compiled`), each moment's
f_m(v), and the block's moments are g_m = observed_m - f_m(v) (PyBLP's sign). With dU_ijq = x_j,c(q) nu_iq +
d delta_j / d theta_q the derivative of agent i's utility for j (dU_i0q = 0) and u_iq = sum_j Q_ij dU_ijq,

    d Q_ij / d theta_q = Q_ij (dU_ijq - u_iq),
    d log pi_ijk = (dU_ij - u_i) / (1 - Q_ij) + (dU_ik - u_i),

so for B = A pi, d sum B / d theta_q = sum_i [sum_j C_ij dU_ijq - (sum_j C_ij) u_iq] with C = B (first choices) or
C_ij = sum_k B_ijk / (1 - Q_ij) + sum_k B_ikj (second choices): matrix products with X2 and d delta / d theta, never
an agent x product x parameter array. Then d v_p = (d N_p - v_p d D_d) / D_d and G = -F dv with F = df/dv.

Covariances as PyBLP: cov(v_p, v_q) = (sum A_p v_q pi / D_d - v_p v_q) / N_d within a dataset (zero across
datasets), covariances of the moments F cov(v) F', and the block's part of S is N times that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from blp.exceptions import SpecificationError
from blp.micro.compiled import CompiledDataset, CompiledMicro
from blp.micro.nested import NestedLogDerivatives, NestedSecondChoices, nested_log_derivatives

if TYPE_CHECKING:  # a back-reference for the type checker only
    from blp.model.demand import DemandModel


@dataclass(frozen=True)
class MicroValues:
    """The micro block evaluated at theta."""

    values: np.ndarray                 # MM fitted f_m(v)
    moments: np.ndarray                # MM observed - fitted
    jacobian: Optional[np.ndarray]     # MM x P d moments / d theta (None when not asked for)
    covariances: np.ndarray            # MM x MM covariances of the micro moments (PyBLP's micro_covariances)
    part_values: np.ndarray            # PM v_p


def weighted_sum(A: np.ndarray, Q: np.ndarray, second: bool, with_coefficients: bool,
                 groups: Optional[np.ndarray] = None) -> tuple[float, Any]:
    """sum(A pi) and, when asked, the coefficients C with d sum(A pi) = sum_i [sum_j C_ij dU_ij - (sum_j C_ij) u_i].

    First choices: pi = Q, so the sum is sum(A Q) and C = A Q. Second choices, with r_ij = Q_ij / (1 - Q_ij) and
    A's diagonal a_ij = A_ijj (pi_ijj = 0), without forming pi:

        m_ij = sum_k A_ijk Q_ik - a_ij Q_ij       (so sum_k B_ijk = r_ij m_ij for B = A pi)
        n_ik = sum_j r_ij A_ijk - a_ik r_ik       (so sum_j B_ijk = Q_ik n_ik)
        sum(A pi) = sum_ij r_ij m_ij,   C_ij = r_ij m_ij / (1 - Q_ij) + Q_ij n_ij.

    With eliminated groups (`groups` M_jk = 1 when j and k are removed together; A already zero there), j's whole
    group G(j) leaves: pi_ijk = Q_ij Q_ik / (1 - E_ij) with E_ij = sum_l in G(j) Q_il, and d log pi_ijk =
    d log Q_ij + d log Q_ik + dE_ij / (1 - E_ij), so with b_ij = sum_k B_ijk:

        r = Q / (1 - E),  m = A Q,  n = r A,  sum(A pi) = sum r m,  C = b + Q n + Q ((b / (1 - E)) M).
    """
    if not second:
        B = A * Q
        return float(B.sum()), B if with_coefficients else None
    if groups is not None:
        return _group_weighted_sum(A, Q, groups, with_coefficients)
    with np.errstate(divide='ignore', invalid='ignore'):
        inverse = np.where(Q < 1, 1 / (1 - Q), 0.0)
    r = Q * inverse
    diagonal = np.einsum('...jj->...j', A)
    m = (A @ Q[..., None])[..., 0] - diagonal * Q
    total = float((r * m).sum())
    if not with_coefficients:
        return total, None
    n = (r[..., None, :] @ A)[..., 0, :] - diagonal * r
    return total, r * m * inverse + Q * n


def _group_weighted_sum(A: np.ndarray, Q: np.ndarray, groups: np.ndarray, with_coefficients: bool) -> tuple[float, Any]:
    """`weighted_sum` of second choices after j's group is removed (A zero within groups)."""
    E = Q @ groups  # groups is symmetric: E_ij = sum_l Q_il M_lj
    with np.errstate(divide='ignore', invalid='ignore'):
        inverse = np.where(E < 1, 1 / (1 - E), 0.0)
    r = Q * inverse
    b = r * (A @ Q[..., None])[..., 0]
    total = float(b.sum())
    if not with_coefficients:
        return total, None
    n = (r[..., None, :] @ A)[..., 0, :]
    return total, b + Q * n + Q * ((b * inverse) @ groups)


def given_covariances(matrix: Any, MM: int, warnings: list[str]) -> Optional[np.ndarray]:
    """PyBLP's `micro_sample_covariances`: an MM x MM positive semidefinite matrix used in place of the micro moments'
    computed covariances (None without micro moments: PyBLP ignores it then, and so does this, with a warning)."""
    if matrix is None:
        return None
    if not MM:
        warnings.append('micro_sample_covariances is ignored: there are no micro moments')
        return None
    try:
        given = np.asarray(matrix, dtype=float)
    except (TypeError, ValueError):
        given = np.zeros(0)
    if given.shape != (MM, MM) or not np.isfinite(given).all():
        raise SpecificationError(f'micro_sample_covariances must be a finite square {MM} by {MM} matrix (one row and '
                                 f'column per micro moment)', parameter='micro_sample_covariances')
    if not np.allclose(given, given.T, rtol=1e-8, atol=0):
        raise SpecificationError('micro_sample_covariances must be symmetric', parameter='micro_sample_covariances')
    eigenvalues = np.linalg.eigvalsh(given)
    if eigenvalues.min() < -1e-12 * max(1.0, float(np.abs(eigenvalues).max())):
        raise SpecificationError(f'micro_sample_covariances must be positive semidefinite (an eigenvalue is '
                                 f'{eigenvalues.min():.3g})', parameter='micro_sample_covariances')
    if np.linalg.cond(given) > 1 / np.finfo(float).eps:
        warnings.append('micro_sample_covariances is nearly singular')
    return given


class MicroBlock:
    """Micro moments as a moment block: moments, their Jacobian in theta and their covariance at each theta."""

    name = 'micro'
    K = 0
    X_labels: list[str] = []

    def __init__(self, compiled: CompiledMicro, model: DemandModel, variables: np.ndarray, columns: np.ndarray, P: int,
                 rho_moves: Optional[np.ndarray] = None) -> None:
        """`rho_moves` (T x J x R, d rho_j / d theta for the R rho elements after sigma and pi) with nests."""
        rho_moves = np.zeros(variables.shape[:2] + (0,)) if rho_moves is None else rho_moves
        if variables.shape[2] + rho_moves.shape[2] != P:
            raise SpecificationError('micro moments need every nonlinear parameter to enter agents\' coefficients or '
                                     'be a rho (a supply side\'s price coefficient is not supported with micro '
                                     'moments yet)', parameter='micro_moments')
        self.compiled, self.model, self.variables, self.columns, self.P = compiled, model, variables, columns, P
        self.rho_moves = rho_moves
        self.labels = [moment.name for moment in compiled.moments]

    @property
    def M(self) -> int:
        return self.compiled.MM

    def evaluate(self, state: Any, with_jacobian: bool) -> MicroValues:
        """v, f(v), g = observed - f(v), dg/dtheta (when asked) and the moments' covariances at the demand state."""
        compiled, layout, P = self.compiled, self.model.layout, self.P
        # in choice units, as the kernel's X2 (a scaled logit error's e: `blp.model.demand`)
        delta_jacobian = self.model.in_choice_units(layout.pad(state.delta_jacobian)) if with_jacobian else None
        numerators, denominators = np.zeros(compiled.PM), np.zeros(compiled.PM)
        numerator_jacobian, denominator_jacobian = np.zeros((compiled.PM, P)), np.zeros((compiled.PM, P))
        pair_sums: dict[tuple[int, int], float] = {}
        choices: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}  # datasets on the same markets share Q
        for data in compiled.datasets:
            markets = data.markets.tobytes()
            nested = None
            if self.model.H:
                nested = self.model.nested_choices(layout.pad(state.delta), state.values, data.markets)
                inside = nested.probabilities.transpose(0, 2, 1)
                Q = np.concatenate([nested.outside[:, :, None], inside], axis=2)
            else:
                if markets not in choices:
                    inside = self.model.probabilities(state.inversion, state.values,
                                                      data.markets).transpose(0, 2, 1)  # T_d x I x J
                    choices[markets] = inside, np.concatenate([1 - inside.sum(axis=2, keepdims=True), inside], axis=2)
                inside, Q = choices[markets]
            weighted = self._weighted_sums(data, Q, inside, nested, state, delta_jacobian)
            denominators[data.parts], denominator_jacobian[data.parts] = weighted(data.weights)
            for position, p in enumerate(data.parts):
                numerators[p], numerator_jacobian[p] = weighted(data.weighted_values[position])
            for key, values in data.pair_values.items():
                pair_sums[key] = weighted(values, False)[0]
        with np.errstate(divide='ignore', invalid='ignore'):
            part_values = numerators / denominators
        F, values = self._functions(part_values)
        jacobian = None
        if delta_jacobian is not None:
            with np.errstate(divide='ignore', invalid='ignore'):
                parts_jacobian = (numerator_jacobian - part_values[:, None] * denominator_jacobian) / denominators[:, None]
            jacobian = -F @ parts_jacobian
        covariances = F @ self._part_covariances(part_values, denominators, pair_sums) @ F.T
        return MicroValues(values, compiled.observed - values, jacobian, (covariances + covariances.T) / 2, part_values)

    def _weighted_sums(self, data: CompiledDataset, Q: np.ndarray, inside: np.ndarray, nested: Any, state: Any,
                       delta_jacobian: Optional[np.ndarray]) -> Any:
        """A function (A, with_jacobian) -> (sum(A pi), d sum(A pi) / d theta or zeros) on this dataset's markets."""
        zeros = np.zeros(self.P)
        if nested is not None and data.second:
            nests = self.model.nests(state.values.rho)
            assert nests is not None
            nests = nests.restrict(data.markets)
            same = nests.same_nest
            seconds = NestedSecondChoices(Q, nested.conditionals, same @ nested.probabilities, nests.rho_products, same,
                                          data.groups)
            logs = None if delta_jacobian is None else \
                self._nested_logs(data, nested, state.values.rho, delta_jacobian[data.markets])

            def nested_second(A: np.ndarray, with_jacobian: bool = True) -> tuple[float, np.ndarray]:
                return seconds.total(A), seconds.derivative(A, logs) if with_jacobian and logs is not None else zeros

            return nested_second
        derivative = None
        if delta_jacobian is not None:
            derivative = self._derivative(data, Q, inside, delta_jacobian[data.markets]) if nested is None else \
                self._nested_derivative(data, nested, state.values.rho, delta_jacobian[data.markets])

        def weighted(A: np.ndarray, with_jacobian: bool = True) -> tuple[float, np.ndarray]:
            wanted = with_jacobian and derivative is not None
            total, C = weighted_sum(A, Q, data.second, wanted, data.groups)
            return total, derivative(C) if wanted and derivative is not None else zeros

        return weighted

    def _derivative(self, data: CompiledDataset, Q: np.ndarray, inside: np.ndarray, delta_jacobian: np.ndarray) -> Any:
        """A function C -> d sum(A pi) / d theta (P) from the coefficients C of `weighted_sum`, on this dataset's
        markets."""
        random = self.model.random
        assert random is not None  # micro moments are refused without X2 (compile_micro)
        X2 = random.X2[data.markets][:, :, self.columns]  # T_d x J x P
        variables = self.variables[data.markets]                      # T_d x I x P

        def utility_sums(C: np.ndarray) -> np.ndarray:
            """sum_j>0 C_ij dU_ijq (T_d x I x P)."""
            return variables * np.einsum('tij,tjq->tiq', C, X2) + C @ delta_jacobian

        mean_utility = utility_sums(inside)  # u_iq

        def derivative(C: np.ndarray) -> np.ndarray:
            return (utility_sums(C[:, :, 1:]) - C.sum(axis=2)[:, :, None] * mean_utility).sum(axis=(0, 1))

        return derivative

    def _nested_derivative(self, data: CompiledDataset, choices: Any, rho: np.ndarray, delta_jacobian: np.ndarray) -> Any:
        """As `_derivative` with nests (first choices): C -> sum_ij C_ij d log Q_ij / d theta (`_nested_logs`)."""
        logs = [np.concatenate([log.outside[:, :, None], (log.conditionals + log.nest_shares).transpose(0, 2, 1)],
                               axis=2) for log in self._nested_logs(data, choices, rho, delta_jacobian)]

        def derivative(weights: np.ndarray) -> np.ndarray:
            return np.array([(weights * log).sum() for log in logs])

        return derivative

    def _nested_logs(self, data: CompiledDataset, choices: Any, rho: np.ndarray,
                     delta_jacobian: np.ndarray) -> list[NestedLogDerivatives]:
        """d log of the nested choices in each parameter on this dataset's markets (`nested_log_derivatives`)."""
        random, nests = self.model.random, self.model.nests(rho)
        assert random is not None and nests is not None
        return nested_log_derivatives(choices, nests.restrict(data.markets), random.X2[data.markets][:, :, self.columns],
                                      self.variables[data.markets], self.rho_moves[data.markets], delta_jacobian)

    def _functions(self, part_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """F = df/dv (MM x PM) and f(v) (MM) from each moment's compute_value and compute_gradient."""
        compiled = self.compiled
        F, values = np.zeros((compiled.MM, compiled.PM)), np.zeros(compiled.MM)
        for m, moment in enumerate(compiled.moments):
            indices = compiled.part_indices(moment)
            where = f'micro_moments[{moment.name}]'
            value = np.asarray(moment.compute_value(part_values[indices]), dtype=float).ravel()
            if value.size != 1:
                raise SpecificationError(f'compute_value of micro moment {moment.name!r} must return one number',
                                         parameter=where)
            values[m] = value[0]
            gradient = np.asarray(moment.compute_gradient(part_values[indices]), dtype=float).ravel()
            if gradient.size != len(indices):
                raise SpecificationError(f'compute_gradient of micro moment {moment.name!r} must return {len(indices)} '
                                         f'number(s), one per part', parameter=where)
            F[m, indices] = gradient
        return F, values

    def _part_covariances(self, part_values: np.ndarray, denominators: np.ndarray,
                          pair_sums: dict[tuple[int, int], float]) -> np.ndarray:
        """cov(v_p, v_q) within each dataset, PyBLP's formula: (E[v_p v_q] - v_p v_q) / N_d."""
        covariances = np.zeros((self.compiled.PM, self.compiled.PM))
        for data in self.compiled.datasets:
            for (p, q), total in ((key, pair_sums[key]) for key in data.pair_values):
                covariance = (total / denominators[p] - part_values[p] * part_values[q]) / data.dataset.observations
                covariances[p, q] = covariances[q, p] = covariance
        return covariances
