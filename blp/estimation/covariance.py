r"""Covariance restrictions (MacKay and Miller; PyBLP's covariance moments): E[(xi omega - m) Z_C] = 0.

A moment block computed from the demand and supply blocks' residuals rather than from a dependent variable of its own,
g_C = Z_C'(xi * omega - m) / N, with Z_C the `covariance_instruments` of the product data (not absorbed, as PyBLP) and
m the solve's `covariance_moments_mean`. xi and omega move with theta also through the concentrated-out beta and
gamma, so its Jacobian needs their total derivatives (`blp.estimation.gmm.LinearIV.residual_jacobians`, which the
stack computes when it holds such a block), and in (theta, beta, gamma) for standard errors

    dg_C = Z_C' [dxi omega + xi domega,  -X1 omega,  -xi X3] / N.

As in PyBLP, only theta is estimated from these moments: beta and gamma stay concentrated out with the demand and
supply moments and their part of W.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np


@dataclass(frozen=True)
class ResidualValues:
    """A block of moments of the residuals, evaluated at theta."""

    errors: np.ndarray                     # N: xi omega - m, whose products with Z are the moments (for S)
    moments: np.ndarray                    # M
    jacobian: Optional[np.ndarray]         # M x P in theta (None when not asked for)
    linear_jacobian: Optional[np.ndarray]  # M x K in every linear block's parameters


@dataclass(frozen=True)
class CovarianceBlock:
    """Z_C'(xi omega - m) / N from the stack's first two linear blocks (demand, then supply)."""

    Z: np.ndarray          # N x MC
    labels: list[str]
    mean: float
    name = 'covariance'
    from_residuals = True  # `blp.estimation.moments.MomentStack` evaluates it after the linear blocks

    @property
    def M(self) -> int:
        return self.Z.shape[1]

    def evaluate(self, residuals: Sequence[np.ndarray], jacobians: Optional[Sequence[np.ndarray]],
                 Xs: Sequence[np.ndarray]) -> ResidualValues:
        """The moments and, given the residuals' total Jacobians in theta, their Jacobians in theta and in (beta,
        gamma); `Xs` are the linear blocks' regressors (fixed effects absorbed)."""
        xi, omega = residuals[0], residuals[1]
        errors = xi * omega - self.mean
        N = self.Z.shape[0]
        moments = self.Z.T @ errors / N
        if jacobians is None:
            return ResidualValues(errors, moments, None, None)
        theta = self.Z.T @ (jacobians[0] * omega[:, None] + xi[:, None] * jacobians[1]) / N
        linear = self.Z.T @ np.column_stack([-Xs[0] * omega[:, None], -xi[:, None] * Xs[1]]) / N
        return ResidualValues(errors, moments, theta, linear)
