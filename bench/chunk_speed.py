"""Objective-and-gradient evaluations whole vs in market chunks vs on threads, timed in one process.

    python bench/chunk_speed.py [--T 2500] [--budgets 100000 256 64 16] [--threads 1 2] [--rounds 3]

On the simulated problem of `bench/simulation.py` (J = 40, I = 300) at the starting values: each configuration
(chunk budget in MB, threads) evaluates the objective with its gradient `--evaluations` times per round, rounds
interleaved so that load on a shared machine hits every configuration alike; the best round counts. A budget of
100000 MB is the whole problem at once (one chunk). Ratios are to that.
"""

from __future__ import annotations

import argparse
import os
import time

for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[variable] = '1'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--T', type=int, default=2500)
    parser.add_argument('--budgets', type=float, nargs='+', default=[100000, 256, 64, 16])
    parser.add_argument('--threads', type=int, nargs='+', default=[1, 2])
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--evaluations', type=int, default=2)
    arguments = parser.parse_args()
    import numpy as np
    from simulation import SIGMA_START, simulated_data

    import blp
    from blp.configurations.solve_options import SolveOptions
    from blp.estimation.estimator import Estimation

    products, agents = simulated_data(arguments.T)
    problem = blp.Problem((blp.Formulation('1 + prices + x'), blp.Formulation('0 + prices + x')), products,
                          None, agents)
    configurations = [(budget, threads) for threads in arguments.threads for budget in arguments.budgets
                      if threads == 1 or budget != max(arguments.budgets)]
    estimations = {}
    for budget, threads in configurations:
        estimation = Estimation(problem, SolveOptions(sigma=SIGMA_START, method='1s', memory_budget_mb=budget,
                                                      threads=threads))
        estimations[budget, threads] = estimation, estimation.moments.iv(estimation.W)
    theta = estimations[configurations[0]][0].parameters.theta
    best = {configuration: np.inf for configuration in configurations}
    objectives = {}
    for _ in range(arguments.rounds):
        for configuration in configurations:
            estimation, iv = estimations[configuration]
            started = time.perf_counter()
            for _ in range(arguments.evaluations):
                estimation.warm_delta = estimation.model.layout.pad(estimation.model.logit_delta)  # same start each
                estimation.warm_jacobian = None
                evaluation = estimation.evaluate(theta, iv)
            best[configuration] = min(best[configuration], (time.perf_counter() - started) / arguments.evaluations)
            objectives[configuration] = evaluation.objective
    whole = best[configurations[0]]
    print(f'T = {arguments.T}, J = 40, I = 300; seconds per objective+gradient evaluation, best of {arguments.rounds}')
    print(f"{'budget MB':>10} {'threads':>8} {'chunks':>7} {'seconds':>8} {'ratio':>6}  objective")
    for (budget, threads), seconds in best.items():
        chunked = estimations[budget, threads][0].chunked
        chunks = 1 if chunked is None else len(chunked.chunks)
        print(f'{budget:>10g} {threads:>8} {chunks:>7} {seconds:>8.3f} {seconds / whole:>6.2f}  '
              f'{objectives[budget, threads]:.12g}')


if __name__ == '__main__':
    main()
