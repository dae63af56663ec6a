"""An economy at true parameters: a `Problem` built from (simulated) data with beta, sigma, pi, rho and xi given
rather than estimated, so that post-estimation (`PostEstimation`, the zeta contraction of `blp.post.equilibrium`)
runs on it as on an estimate.

PyBLP's `epsilon_scale` e (agents choose by (delta + mu) / e) is the problem's: its demand model
(`blp.model.demand`) and `DemandAtEstimates` scale utilities and their slopes; delta stays X1 beta + xi.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from blp.estimation.parameters import NonlinearValues
from blp.estimation.problem import Problem
from blp.exceptions import SpecificationError
from blp.post.postestimation import PostEstimation


def true_values(problem: Problem, sigma: Any, pi: Any, rho: Any) -> NonlinearValues:
    """sigma (lower triangle, K2 x K2), pi (K2 x D) and rho (H x 1 or 1 x 1) checked against the problem's sizes."""
    K2, D, H = problem.K2, problem.D, problem.H
    sigma_matrix = _matrix(sigma, (K2, K2), 'sigma')
    pi_matrix = _matrix(pi, (K2, D), 'pi')
    if H:
        if rho is None:
            raise SpecificationError('nesting_ids need rho', parameter='rho')
        rho_vector = np.asarray(rho, dtype=float).reshape(-1, 1)
        if rho_vector.shape[0] not in (1, H):
            raise SpecificationError(f'rho must be a scalar or have {H} elements, one per nest', parameter='rho')
    elif rho is not None and np.size(rho):
        raise SpecificationError('rho needs nesting_ids in product_data', parameter='rho')
    else:
        rho_vector = np.zeros((0, 1))
    return NonlinearValues(np.tril(sigma_matrix), pi_matrix, rho_vector)


def _matrix(values: Any, shape: tuple[int, int], name: str) -> np.ndarray:
    """`values` as a `shape` matrix: absent (None or empty) is all zeros only when the shape is empty."""
    if values is None or np.size(values) == 0:
        if 0 not in shape:
            raise SpecificationError(f'{name} must be given: it is {shape[0]} x {shape[1]}', parameter=name)
        return np.zeros(shape)
    matrix = np.asarray(values, dtype=float)
    if matrix.size != shape[0] * shape[1] or not np.isfinite(matrix).all():
        raise SpecificationError(f'{name} must be a finite {shape[0]} x {shape[1]} matrix, not shaped '
                                 f'{matrix.shape}', parameter=name)
    return matrix.reshape(shape)


def linear_vector(values: Any, labels: list[str], name: str) -> np.ndarray:
    """beta or gamma as a column vector with one element per label."""
    if values is None:
        if labels:
            raise SpecificationError(f'{name} must be given: one value per column ({", ".join(labels)})',
                                     parameter=name)
        return np.zeros((0, 1))
    vector = np.asarray(values, dtype=float).reshape(-1, 1)
    if vector.shape[0] != len(labels) or not np.isfinite(vector).all():
        raise SpecificationError(f'{name} must have {len(labels)} finite values, one per column '
                                 f'({", ".join(labels)})', parameter=name)
    return vector


class Economy(PostEstimation):
    """Post-estimation at true parameters: delta = X1 beta + xi, agents choosing by (delta + mu) / epsilon_scale."""

    def __init__(self, problem: Problem, beta: np.ndarray, values: NonlinearValues, xi: np.ndarray,
                 gamma: Optional[np.ndarray] = None) -> None:
        self.problem = problem
        self.gamma = np.zeros((problem.K3, 1)) if gamma is None else gamma  # moves costs with shares (X3 reads them)
        self.epsilon_scale = problem.epsilon_scale
        # fewer nodes columns than X2 has go to sigma's nonzero columns, as in estimation (PyBLP's rule)
        self.demand_model = problem.model.with_nodes_for(values.sigma)
        self.beta, self.beta_labels = beta, list(problem.X1_labels)
        self.nonlinear_values = values
        self.sigma, self.pi, self.rho = values.sigma, values.pi, values.rho
        self.xi = xi.reshape(-1, 1)
        self.delta = problem.X1 @ beta + self.xi

