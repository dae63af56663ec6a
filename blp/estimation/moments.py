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

With persistent unobservables (`blp.estimation.persistence`) the stack quasi-differences each block's y, X and
dy/dtheta by its moment type before the IV step: u' = D(y) - D(X) b is what the moments use (and S), the levels
residual u = y - X b what the results report (xi, omega), and G's linear part is -Z'D(X) / N.

Blocks without linear parameters (micro moments, `blp.micro.block.MicroBlock`) stack after the linear ones: each
has `M` and `evaluate(state, with_jacobian)` returning its moments, their Jacobian in theta and their covariances
(an object with `.moments`, `.jacobian`, `.covariances`, kept in `Stacked.micro`); the linear parameters are
concentrated out with the linear blocks' part of W only, S is block-diagonal with N times each block's covariances
(as PyBLP), and the first-step W's rows for them are zero until the initial update replaces W.

Blocks of moments of the linear blocks' residuals (`from_residuals`, e.g. the covariance restrictions of
`blp.estimation.covariance`) stack between the two (PyBLP's order): each has `M`, `Z` and `evaluate(residuals,
residual_jacobians, Xs)`. With one in the stack, the Jacobians it keeps are the residuals' total derivatives
d u / d theta = dy/dtheta - X db/dtheta (as PyBLP converts them then), its 2SLS W block is (Z'Z / N)^-1 and S covers
it jointly with the linear blocks' moments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Optional, Sequence

import numpy as np
import scipy.linalg

from blp.estimation.gmm import LinearIV, initial_weights, moment_covariances
from blp.estimation.persistence import Persistence


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
    dependent_jacobians: list[Optional[np.ndarray]]  # dy/dtheta per block (du/dtheta with blocks of residuals)
    moments: np.ndarray                     # g (M)
    details: list[dict]                     # per block, what its dependent reported (costs, markups, ...)
    micro: list[Any] = field(default_factory=list)  # each block without linear parameters evaluated (MicroValues)
    residual: list[Any] = field(default_factory=list)  # each block of the residuals evaluated (ResidualValues)
    levels: Optional[list[np.ndarray]] = None       # with persistence: y - X b per block (residuals are innovations)
    regressors: Optional[list[np.ndarray]] = None   # with persistence: D(X) per block, every block's columns
    structural_jacobians: Optional[list[Optional[np.ndarray]]] = None  # with persistence: dy/dtheta per block

    @property
    def structural(self) -> list[np.ndarray]:
        """The structural errors (xi, omega, ...) in levels."""
        return self.residuals if self.levels is None else self.levels


class MomentStack:
    """The blocks on top of each other."""

    def __init__(self, blocks: Sequence[Any], persistence: Optional[Persistence] = None) -> None:
        self.blocks: list[LinearBlock] = [block for block in blocks if isinstance(block, LinearBlock)]
        self.residual: list[Any] = [block for block in blocks if getattr(block, 'from_residuals', False)]
        self.micro: list[Any] = [block for block in blocks if not isinstance(block, LinearBlock)
                                 and not getattr(block, 'from_residuals', False)]
        self.N = self.blocks[0].Z.shape[0]
        self.persistence = persistence

    def padded_X(self, index: int) -> np.ndarray:
        """Block `index`'s X among every block's columns (N x K, zero outside its own)."""
        offset = sum(block.K for block in self.blocks[:index])
        X = np.zeros((self.N, self.K))
        X[:, offset:offset + self.blocks[index].K] = self.blocks[index].X
        return X

    @cached_property
    def Zs(self) -> list[np.ndarray]:
        """Each equation's instruments: each linear block's, or with persistence each moment type's part of them."""
        Zs = [block.Z for block in self.blocks]
        return Zs if self.persistence is None else self.persistence.instruments(Zs)

    @cached_property
    def full_X(self) -> list[np.ndarray]:
        """Every block's padded X, kept for persistence (whose transform mixes blocks' columns)."""
        return [self.padded_X(index) for index in range(len(self.blocks))]

    def with_blocks(self, blocks: Sequence[Any]) -> 'MomentStack':
        """This stack with more blocks (those of residuals after the linear ones, those without linear parameters
        last)."""
        return MomentStack([*self.blocks, *self.residual, *self.micro, *blocks], self.persistence)

    @property
    def linear_M(self) -> int:
        return sum(block.M for block in self.blocks)

    @property
    def aggregate_M(self) -> int:
        """The moments whose covariances S estimates from the data: the linear blocks' and their residuals'."""
        return self.linear_M + sum(block.M for block in self.residual)

    @property
    def M(self) -> int:
        return self.aggregate_M + sum(block.M for block in self.micro)

    @property
    def K(self) -> int:
        return sum(block.K for block in self.blocks)

    @property
    def labels(self) -> list[str]:
        return [label for block in self.blocks for label in block.X_labels]

    def initial_weights(self) -> np.ndarray:
        W = initial_weights([*self.Zs, *(block.Z for block in self.residual)])
        return scipy.linalg.block_diag(W, np.zeros((self.M - self.aggregate_M,) * 2)) if self.micro else W

    def iv(self, W: np.ndarray) -> LinearIV:
        linear = self.linear_M
        iv = LinearIV([block.X for block in self.blocks], [block.Z for block in self.blocks], W[:linear, :linear])
        iv.W = W  # the objective's W; the linear parameters use only the linear blocks' part of it (as PyBLP)
        return iv

    def evaluate(self, state: DemandState, iv: LinearIV, with_jacobian: bool) -> Stacked:
        """Each block's y at theta, the concentrated b, the residuals and the stacked moments."""
        outputs = [block.dependent(state, with_jacobian) for block in self.blocks]
        ys = [block.absorb(output.y) for block, output in zip(self.blocks, outputs)]
        jacobians: list[Optional[np.ndarray]] = [output.jacobian for output in outputs]
        levels = regressors = structural = None
        if self.persistence is None:
            coefficients, residuals = iv.estimate(ys)
        else:
            structural = jacobians
            coefficients, residuals, levels, regressors, jacobians = self._quasi_differenced(state, iv, ys, jacobians)
        moments = np.concatenate([Z.T @ u for Z, u in zip(self.Zs, residuals)]) / self.N \
            if len(self.Zs) > 1 else self.Zs[0].T @ residuals[0] / self.N
        residual = []
        if self.residual:
            if with_jacobian:
                jacobians = list(iv.residual_jacobians([block.absorb(output.jacobian) for block, output
                                                        in zip(self.blocks, outputs) if output.jacobian is not None]))
            Xs = [block.X for block in self.blocks]
            residual = [block.evaluate(residuals, jacobians if with_jacobian else None, Xs) for block in self.residual]
        micro = [block.evaluate(state, with_jacobian) for block in self.micro]
        if micro or residual:
            moments = np.concatenate([moments, *(values.moments for values in [*residual, *micro])])
        return Stacked(coefficients, residuals, jacobians, moments, [output.details for output in outputs], micro,
                       residual, levels, regressors, structural)

    def _quasi_differenced(self, state: DemandState, iv: LinearIV, ys: list[np.ndarray],
                           jacobians: list[Optional[np.ndarray]]) -> tuple[list, list, list, list, list]:
        """b from the quasi-differenced system at this theta's phi (its IV step depends on phi), the innovations,
        the levels residuals, D(X) and D(dy/dtheta) with d u'/d phi."""
        persistence = self.persistence
        assert persistence is not None
        phi = state.values.phi
        regressors = persistence.transform(phi, self.full_X)
        linear = self.linear_M
        transformed_iv = LinearIV(regressors, self.Zs, iv.W[:linear, :linear],
                                  [block.K for block in self.blocks])
        coefficients, residuals = transformed_iv.estimate(persistence.transform(phi, ys))
        b = np.concatenate(coefficients) if coefficients else np.zeros(0)
        levels = [y - X @ b for y, X in zip(ys, self.full_X)]
        present = [jacobian for jacobian in jacobians if jacobian is not None]
        if len(present) == len(jacobians):
            return coefficients, residuals, levels, regressors, persistence.add_phi_derivatives(
                persistence.transform(phi, present), levels)
        return coefficients, residuals, levels, regressors, jacobians

    def theta_jacobian(self, dependent_jacobians: Sequence[Optional[np.ndarray]], micro: Sequence[Any] = (),
                       residual: Sequence[Any] = ()) -> np.ndarray:
        """G_theta (M x P)."""
        parts = [Z.T @ jacobian / self.N for Z, jacobian in zip(self.Zs, dependent_jacobians)
                 if jacobian is not None] + [values.jacobian for values in [*residual, *micro]]
        return np.vstack(parts) if len(parts) > 1 else parts[0]

    def jacobian(self, dependent_jacobians: Sequence[Optional[np.ndarray]], micro: Sequence[Any] = (),
                 residual: Sequence[Any] = (), regressors: Optional[Sequence[np.ndarray]] = None) -> np.ndarray:
        """G (M x (P + K)): the moments' Jacobian in theta and in every block's linear parameters (`regressors`: the
        blocks' quasi-differenced X, with persistence)."""
        rows = []
        Xs = self.full_X if regressors is None else regressors
        for Z, X, jacobian in zip(self.Zs, Xs, dependent_jacobians):
            assert jacobian is not None, 'a linear block was evaluated without its Jacobian'
            rows.append(Z.T @ np.column_stack([jacobian, -X]) / self.N)
        rows.extend(np.column_stack([values.jacobian, values.linear_jacobian]) for values in residual)
        rows.extend(np.column_stack([values.jacobian, np.zeros((values.jacobian.shape[0], self.K))]) for values in micro)
        return np.vstack(rows) if len(rows) > 1 else rows[0]

    def covariances(self, residuals: Sequence[np.ndarray], kind: str, clustering_ids: Optional[np.ndarray],
                    center: bool, micro: Sequence[Any] = (), residual: Sequence[Any] = (),
                    micro_given: Optional[np.ndarray] = None) -> np.ndarray:
        """S: the linear blocks' and those of their residuals (`blp.estimation.gmm.moment_covariances`), then N
        times each micro block's, block-diagonal (`micro_given`: every micro moment's covariances, given in place of
        the blocks' own)."""
        S = moment_covariances([*residuals, *(values.errors for values in residual)],
                               [*self.Zs, *(block.Z for block in self.residual)], kind, clustering_ids, center)
        if micro and micro_given is not None:
            return scipy.linalg.block_diag(S, self.N * micro_given)
        return scipy.linalg.block_diag(S, *(self.N * values.covariances for values in micro)) if micro else S
