"""Moment blocks: the seam through which estimation meets every source of moments.

A linear block is an equation y(theta) = X b + u with instruments Z and sample moments g = Z'u / N, whose linear
parameters b are concentrated out. Demand is the first block (y = delta, X = X1, Z = ZD, u = xi); a supply side is
the second (y = c or log c, X = X3, Z = ZS, u = omega). `MomentStack` puts the blocks' moments on top of each other
with block-diagonal instruments (as PyBLP), so one IV step concentrates out every block's b together, and gives
what GMM needs from the stack:

    g = [Z_e'u_e / N]_e                       the moments
    G_theta = [Z_e' dy_e/dtheta / N]_e        their Jacobian in theta (b's own term vanishes at the concentrated b)
    G = [G_theta, -blockdiag(Z_e'X_e) / N]    the Jacobian in (theta, b) for standard errors
    S                                         their covariance (`blp.estimation.gmm.moment_covariances`)

A block computes y(theta) and dy/dtheta from the demand side's state at theta (`DemandState`); adding a block
means writing that function, not editing the estimator.

Blocks without linear parameters (micro moments, `blp.micro.block.MicroBlock`) stack after the linear ones: each
has `M` and `evaluate(state, with_jacobian)` returning its moments, their Jacobian in theta and their covariances
(an object with `.moments`, `.jacobian`, `.covariances`, kept in `Stacked.micro`); the linear parameters are
concentrated out with the linear blocks' part of W only, S is block-diagonal with N times each block's covariances
(as PyBLP), and the first-step W's rows for them are zero until the initial update replaces W.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import numpy as np
import scipy.linalg

from blp.estimation.gmm import LinearIV, initial_weights, moment_covariances


@dataclass(frozen=True)
class DemandState:
    """What the demand side solved at theta, which every block's dependent variable is computed from."""

    theta: np.ndarray
    values: Any                # NonlinearValues at theta
    delta: np.ndarray          # N
    delta_jacobian: np.ndarray  # N x P (empty when not asked for)
    inversion: Any             # blp.model.Inversion


@dataclass(frozen=True)
class BlockOutput:
    """A block's dependent variable at theta, its Jacobian (when asked for) and what else it wants reported."""

    y: np.ndarray                       # N, before fixed effects are absorbed
    jacobian: Optional[np.ndarray]      # N x P
    details: dict = field(default_factory=dict)


Dependent = Callable[[DemandState, bool], BlockOutput]


@dataclass(frozen=True)
class LinearBlock:
    """One equation's moments Z'u / N with u = absorb(y(theta)) - X b."""

    name: str
    X: np.ndarray                 # N x K, fixed effects absorbed
    Z: np.ndarray                 # N x M, fixed effects absorbed
    X_labels: list[str]
    Z_labels: list[str]
    absorb: Callable[[np.ndarray], np.ndarray]
    dependent: Dependent          # (state, with_jacobian) -> y(theta) before absorption and dy/dtheta

    @property
    def M(self) -> int:
        return self.Z.shape[1]

    @property
    def K(self) -> int:
        return self.X.shape[1]


@dataclass(frozen=True)
class Stacked:
    """The stack evaluated at one theta."""

    coefficients: list[np.ndarray]          # b per block (beta, gamma, ...)
    residuals: list[np.ndarray]             # u per block (xi, omega, ...)
    dependent_jacobians: list[Optional[np.ndarray]]
    moments: np.ndarray                     # g (M)
    details: list[dict]                     # per block, what its dependent reported (costs, markups, ...)
    micro: list[Any] = field(default_factory=list)  # each block without linear parameters evaluated (MicroValues)


class MomentStack:
    """The blocks on top of each other."""

    def __init__(self, blocks: Sequence[Any]) -> None:
        self.blocks: list[LinearBlock] = [block for block in blocks if isinstance(block, LinearBlock)]
        self.micro: list[Any] = [block for block in blocks if not isinstance(block, LinearBlock)]
        self.N = self.blocks[0].Z.shape[0]

    def with_blocks(self, blocks: Sequence[Any]) -> 'MomentStack':
        """This stack with more blocks (those without linear parameters go last)."""
        return MomentStack([*self.blocks, *self.micro, *blocks])

    @property
    def linear_M(self) -> int:
        return sum(block.M for block in self.blocks)

    @property
    def M(self) -> int:
        return self.linear_M + sum(block.M for block in self.micro)

    @property
    def K(self) -> int:
        return sum(block.K for block in self.blocks)

    @property
    def labels(self) -> list[str]:
        return [label for block in self.blocks for label in block.X_labels]

    def initial_weights(self) -> np.ndarray:
        W = initial_weights([block.Z for block in self.blocks])
        return scipy.linalg.block_diag(W, np.zeros((self.M - self.linear_M,) * 2)) if self.micro else W

    def iv(self, W: np.ndarray) -> LinearIV:
        linear = self.linear_M
        iv = LinearIV([block.X for block in self.blocks], [block.Z for block in self.blocks], W[:linear, :linear])
        iv.W = W  # the objective's W; the linear parameters use only the linear blocks' part of it (as PyBLP)
        return iv

    def evaluate(self, state: DemandState, iv: LinearIV, with_jacobian: bool) -> Stacked:
        """Each block's y at theta, the concentrated b, the residuals and the stacked moments."""
        outputs = [block.dependent(state, with_jacobian) for block in self.blocks]
        ys = [block.absorb(output.y) for block, output in zip(self.blocks, outputs)]
        coefficients, residuals = iv.estimate(ys)
        moments = np.concatenate([block.Z.T @ u for block, u in zip(self.blocks, residuals)]) / self.N \
            if len(self.blocks) > 1 else self.blocks[0].Z.T @ residuals[0] / self.N
        micro = [block.evaluate(state, with_jacobian) for block in self.micro]
        if micro:
            moments = np.concatenate([moments, *(values.moments for values in micro)])
        return Stacked(coefficients, residuals, [output.jacobian for output in outputs], moments,
                       [output.details for output in outputs], micro)

    def theta_jacobian(self, dependent_jacobians: Sequence[Optional[np.ndarray]], micro: Sequence[Any] = ()) -> np.ndarray:
        """G_theta (M x P)."""
        parts = [block.Z.T @ jacobian / self.N for block, jacobian in zip(self.blocks, dependent_jacobians)
                 if jacobian is not None] + [values.jacobian for values in micro]
        return np.vstack(parts) if len(parts) > 1 else parts[0]

    def jacobian(self, dependent_jacobians: Sequence[Optional[np.ndarray]], micro: Sequence[Any] = ()) -> np.ndarray:
        """G (M x (P + K)): the moments' Jacobian in theta and in every block's linear parameters."""
        rows, offset = [], 0
        for block, jacobian in zip(self.blocks, dependent_jacobians):
            assert jacobian is not None, f'the {block.name} block was evaluated without its Jacobian'
            linear = np.zeros((self.N, self.K))
            linear[:, offset:offset + block.K] = -block.X
            offset += block.K
            rows.append(block.Z.T @ np.column_stack([jacobian, linear]) / self.N)
        rows.extend(np.column_stack([values.jacobian, np.zeros((values.jacobian.shape[0], self.K))]) for values in micro)
        return np.vstack(rows) if len(rows) > 1 else rows[0]

    def covariances(self, residuals: Sequence[np.ndarray], kind: str, clustering_ids: Optional[np.ndarray],
                    center: bool, micro: Sequence[Any] = (), micro_given: Optional[np.ndarray] = None) -> np.ndarray:
        """S: the linear blocks' (`blp.estimation.gmm.moment_covariances`), then N times each micro block's, block-diagonal
        (`micro_given`: every micro moment's covariances, given in place of the blocks' own)."""
        S = moment_covariances(residuals, [block.Z for block in self.blocks], kind, clustering_ids, center)
        if micro and micro_given is not None:
            return scipy.linalg.block_diag(S, self.N * micro_given)
        return scipy.linalg.block_diag(S, *(self.N * values.covariances for values in micro)) if micro else S
