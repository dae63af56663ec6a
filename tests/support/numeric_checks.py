"""Checks of the core's derivatives that several test modules share."""

from __future__ import annotations

import numpy as np


def objective_and_gradients(estimation, theta: np.ndarray, step: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """The analytic gradient of the GMM objective at theta and its central finite differences."""
    iv = estimation.moments.iv(estimation.W)
    analytic = estimation.evaluate(theta, iv).gradient
    numeric = []
    for index in range(theta.size):
        up, down = theta.copy(), theta.copy()
        up[index] += step
        down[index] -= step
        numeric.append((estimation.evaluate(up, iv).objective - estimation.evaluate(down, iv).objective) / (2 * step))
    return analytic, np.array(numeric)
