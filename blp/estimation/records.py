"""What one evaluation, one optimizer step and the final statistics hand from the estimator to the results: plain
records, so that `results` reads named fields and needs nothing of the estimator."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from blp.estimation.contractions import Column
from blp.estimation.moments import Stacked


@dataclass
class Evaluation:
    """Everything one objective evaluation computed at theta."""

    theta: np.ndarray
    objective: float
    gradient: np.ndarray
    delta: np.ndarray
    stacked: Stacked
    delta_jacobian: np.ndarray
    failed_markets: list = field(default_factory=list)
    unconverged_markets: list = field(default_factory=list)  # out of max_evaluations on finite values, used as they are

    @property
    def beta(self) -> np.ndarray:
        return self.stacked.coefficients[0]

    @property
    def xi(self) -> np.ndarray:
        return self.stacked.structural[0]


@dataclass(frozen=True, kw_only=True)
class StepOutcome:
    """One GMM step's optimization: where it ended, under which W, and what it took."""

    evaluation: Evaluation
    W: np.ndarray
    converged: bool
    iterations: int
    evaluations: int
    seconds: float
    message: str
    markets: tuple[Column, ...] = ()  # its optimization's contractions: statistics by market (PyBLP's columns)


@dataclass(frozen=True, kw_only=True)
class Statistics:
    """Inference at the final estimates: S and the updated W, the parameters' covariances and standard errors (θ
    first, then the concentrated linear parameters), the projected gradient, the Hessian with the eigenvalues of its
    reduced form (rows and columns of parameters at a bound removed), and which parameters ended at a bound."""

    S: np.ndarray
    updated_W: np.ndarray
    parameter_covariances: np.ndarray
    se: np.ndarray
    projected_gradient: np.ndarray
    hessian: np.ndarray
    hessian_eigenvalues: np.ndarray
    step: int
    active_bounds: list[str]
    moments_jacobian: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # G: d g-bar / d parameters
