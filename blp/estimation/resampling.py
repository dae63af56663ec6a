"""PyBLP's `resample_agent_data`: the part of the moments' covariance that is simulation error.

The moments g(theta) are computed with one set of agents; with agent sets r = 0, ..., R - 1 drawn anew (nodes and
demographics) the same theta and W give g_r(theta), and their sample covariance (ddof 1, as PyBLP's `np.cov`) is
added to S wherever S is estimated: the initial update, each step's updated W and the standard errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from blp.exceptions import DataError, SpecificationError

if TYPE_CHECKING:  # a back-reference for the type checker only
    from blp.estimation.estimator import Estimation


class FixedCovariances:
    """Simulation covariances already estimated (a stored estimate's), whatever theta and W."""

    def __init__(self, covariances: np.ndarray) -> None:
        self.fixed = covariances

    def covariances(self, theta: np.ndarray, W: np.ndarray) -> np.ndarray:
        return self.fixed


class Resampling:
    """The resampled problems of one solve (built once, on first use) and their moments' covariance at theta."""

    def __init__(self, estimation: Estimation, make: Callable[[Any, Any], Estimation]) -> None:
        """`make(problem, options)`: an estimation of a resampled problem (the estimator's own class)."""
        self.estimation, self.make = estimation, make
        self.resampled: list[Estimation] = []
        self.cache: dict[bytes, np.ndarray] = {}

    def _estimations(self) -> list[Estimation]:
        if self.resampled:
            return self.resampled
        estimation = self.estimation
        resample = estimation.options.resample_agent_data
        assert resample is not None  # made only for a solve that resamples
        options = estimation.options.replace(resample_agent_data=None, micro_sample_covariances=None, W=None)
        while True:
            index = len(self.resampled)
            try:
                agent_data = resample(index)
            except Exception as exception:  # the user's code: report what failed, whatever it raised
                raise SpecificationError(f'resample_agent_data({index}) failed: {type(exception).__name__}: '
                                         f'{exception}', parameter='resample_agent_data') from exception
            if agent_data is None:
                break
            try:
                problem = estimation.problem.with_agent_data(agent_data)
            except (SpecificationError, DataError) as error:
                raise SpecificationError(f'the agent data of resample_agent_data({index}) cannot be used: '
                                         f'{error.message}', parameter='resample_agent_data') from error
            self.resampled.append(self.make(problem, options))
        if len(self.resampled) < 2:
            raise SpecificationError('resample_agent_data must give at least 2 sets of agent data (it returned None '
                                     f'at index {len(self.resampled)}) to estimate the simulation error',
                                     parameter='resample_agent_data')
        return self.resampled

    def covariances(self, theta: np.ndarray, W: np.ndarray) -> np.ndarray:
        """cov(g_r(theta)) across the resampled agents, the linear parameters concentrated out under W."""
        key = np.asarray(theta, dtype=float).tobytes() + np.asarray(W, dtype=float).tobytes()
        if key not in self.cache:
            samples = []
            for index, resampled in enumerate(self._estimations()):
                evaluation = resampled.evaluate(np.asarray(theta, dtype=float), resampled.moments.iv(W), False)
                if evaluation.failed_markets:
                    raise SpecificationError(
                        f'with the agents of resample_agent_data({index}) the inner loop failed in markets '
                        f'{", ".join(map(str, evaluation.failed_markets[:10]))}', parameter='resample_agent_data')
                samples.append(evaluation.stacked.moments)
            self.cache[key] = np.atleast_2d(np.cov(np.array(samples), rowvar=False))
        return self.cache[key]
