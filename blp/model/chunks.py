"""The inner loop in market chunks: the contraction and d delta / d theta a block of markets at a time, so that one
objective evaluation holds the J x I (and J x J) temporaries of a chunk per thread, never of every market at once.

Why: markets are independent given theta, so the padded kernel (`blp.model.contraction`) gives the same numbers on
any block of markets; only what GMM needs is kept whole: delta (T x J) and d delta / d theta (T x J x P). Chunks are
sized by `blp.configurations.budget.inner_bytes_per_market`, the estimate the cost model refuses jobs by, so refusal and chunking
agree. With `threads` > 1 chunks run on a thread pool (numpy's large ufuncs and BLAS release the GIL), the budget
shared between the threads.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Optional

import numpy as np

from blp.configurations.budget import inner_bytes_per_market, markets_per_chunk
from blp.configurations.solve_options import Iteration
from blp.estimation.parameters import NonlinearValues, Parameters
from blp.model.contraction import RandomCoefficients
from blp.model.demand import DemandModel, Inversion
from blp.model.settled import settle


@dataclass(frozen=True)
class Chunk:
    markets: slice                 # a block of the padded T axis
    width: int                     # products in its largest market
    kernel: RandomCoefficients     # the model on these markets only


class ChunkedDemand:
    """delta(theta) and d delta / d theta of a random-coefficients model, chunk by chunk."""

    def __init__(self, model: DemandModel, parameters: Parameters, variables: np.ndarray, columns: np.ndarray,
                 chunk_bytes: int, threads: int = 1) -> None:
        self.model, self.parameters, self.variables, self.columns = model, parameters, variables, columns
        self.threads = threads
        T = model.layout.T
        per_market = inner_bytes_per_market(model.layout.width, model.agent_weights.shape[1], parameters.P)
        size = markets_per_chunk(per_market, chunk_bytes, threads)
        if threads > 1:  # at least two chunks per thread, so that no thread waits long for the slowest chunk
            size = min(size, -(-T // (2 * threads)))
        self.chunks: list[Chunk] = []
        for start in range(0, T, size):
            markets = slice(start, min(start + size, T))
            kernel = model.restricted(markets)
            self.chunks.append(Chunk(markets, kernel.layout.width, kernel))

    @classmethod
    def needed(cls, model: DemandModel, parameters: Parameters, variables: np.ndarray, columns: np.ndarray,
               chunk_bytes: int, threads: int = 1) -> Optional['ChunkedDemand']:
        """The chunked driver when it changes anything (random coefficients over more than one chunk, or threads),
        else None: the whole-problem path, which also keeps the utilities for the supply and micro blocks."""
        if model.random is None:
            return None
        per_market = inner_bytes_per_market(model.layout.width, model.agent_weights.shape[1], parameters.P)
        if threads <= 1 and markets_per_chunk(per_market, chunk_bytes) >= model.layout.T:
            return None
        return cls(model, parameters, variables, columns, chunk_bytes, threads)

    def solve(self, values: NonlinearValues, start: np.ndarray, iteration: Iteration,
              with_jacobian: bool) -> tuple[Inversion, Optional[np.ndarray]]:
        """The inversion at `values` from the padded `start` (its `utilities` None: they lived per chunk) and, when
        asked, the padded d delta / d theta (T x J x P; computed per chunk whose markets all converged or ran
        out of evaluations on finite values)."""
        model, P = self.model, self.parameters.P
        T, J = model.layout.mask.shape
        delta = np.zeros((T, J))
        evaluations, iterations = np.zeros(T, dtype=np.int64), np.zeros(T, dtype=np.int64)
        converged = np.zeros(T, dtype=bool)
        jacobian = np.zeros((T, J, P)) if with_jacobian and P else None

        e = model.epsilon_scale  # the kernels work in choice units, delta / e (`blp.model.demand`)

        def run(chunk: Chunk) -> None:
            markets, width, kernel = chunk.markets, chunk.width, chunk.kernel
            utilities = kernel.prepare(values)
            contraction = kernel.solve_delta(utilities, model.log_shares_padded[markets, :width],
                                             model.in_choice_units(start[markets, :width]), iteration)
            delta[markets, :width] = contraction.delta * e
            evaluations[markets], iterations[markets] = contraction.evaluations, contraction.iterations
            converged[markets] = contraction.converged
            rule = settle(contraction.converged, contraction.evaluations, contraction.delta, iteration)
            if jacobian is not None and rule.settled.all():
                observed = model.observed_shares[markets, :width] if rule.observed else None
                # at delta / e as the whole-problem path has it (`DemandModel`: e times the solution, divided
                # again), not the solution itself: one rounding apart at e != 1, which threads would then change
                jacobian[markets, :width] = e * model.padded_jacobian(
                    kernel, utilities, model.in_choice_units(delta[markets, :width]), self.parameters, self.variables[markets],
                    self.columns, observed)

        if self.threads > 1:
            with ThreadPoolExecutor(self.threads) as pool:
                list(pool.map(run, self.chunks))
        else:
            for chunk in self.chunks:
                run(chunk)
        return Inversion(model.layout.unpad(delta), delta, evaluations, iterations, converged, None), jacobian
