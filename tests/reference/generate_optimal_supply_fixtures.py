"""Regenerate PyBLP's optimal instruments with a supply side:
`PYTHONPATH=. python tests/reference/generate_optimal_supply_fixtures.py`.

On the simulated supply workload (`supply_workloads.supply_simulation`, beta on prices in theta) PyBLP computes
approximate, normal (3 draws, seed 0) and empirical (2 draws, seed 7) instruments; `fixtures/optimal_supply.json`
keeps, for each, Z_D's and Z_S's column norms and first rows, the 2 x 2 inverse covariance matrix and the expected
prices' and shares' norms and first rows; and the re-estimate with the approximate instruments (`to_problem()`,
solved from the first estimates: estimates, SEs, objective) and its instrument counts.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import numpy as np

for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ.setdefault(variable, '1')

from generate_optimal_fixtures import DRAWN, FIXTURES, ROWS  # noqa: E402
from supply_workloads import SUPPLY_WORKLOADS, _solve_arguments, run_blp, run_pyblp  # noqa: E402
from workloads import summarize  # noqa: E402

NAME = 'optimal_supply'
METHODS = (('approximate', 1, None),) + DRAWN


def summary(instruments: Any) -> dict:
    """What is compared of one set of instruments (PyBLP's and blp's share these attribute names)."""
    def matrix(name: str) -> dict:
        values = np.asarray(getattr(instruments, name), dtype=float)
        return {'norms': np.linalg.norm(values, axis=0).tolist(), 'rows': values[:ROWS].tolist()}

    return {name: matrix(name) for name in ('demand_instruments', 'supply_instruments', 'expected_prices',
                                            'expected_shares')} | {
        'inverse_covariance_matrix': np.asarray(instruments.inverse_covariance_matrix, dtype=float).tolist()}


def re_estimate(results: Any, instruments: Any, module: Any, **to_problem: Any) -> Any:
    """`to_problem(**to_problem)` solved from the first estimates with the workload's other solve arguments."""
    arguments = _solve_arguments(SUPPLY_WORKLOADS['supply_simulation']()['solve'], module)
    beta = np.asarray(results.beta, dtype=float).ravel()
    arguments.update(sigma=results.sigma, beta=[None, beta[1], None])
    return instruments.to_problem(**to_problem).solve(**arguments)


def generate(library: str = 'pyblp') -> dict:
    import pyblp

    import blp
    module = pyblp if library == 'pyblp' else blp
    results = (run_pyblp if library == 'pyblp' else run_blp)(SUPPLY_WORKLOADS['supply_simulation']())
    started = time.perf_counter()
    computed = {f'{method}-{draws}-{seed}': summary(results.compute_optimal_instruments(method=method, draws=draws,
                                                                                          seed=seed))
                for method, draws, seed in METHODS}
    updated = re_estimate(results, results.compute_optimal_instruments(), module)
    return {'seconds': time.perf_counter() - started, 'theta': np.asarray(results.theta, dtype=float).ravel().tolist(),
            'instruments': computed, 're_estimate': summarize(updated, 0) | {
                'gamma': np.asarray(updated.gamma, dtype=float).tolist(), 'MD': int(updated.problem.MD),
                'MS': int(updated.problem.MS)}}


if __name__ == '__main__':
    generated = generate()
    (FIXTURES / f'{NAME}.json').write_text(json.dumps(generated, indent=1) + '\n')
    print(f"{NAME}: instruments in {generated['seconds']:.1f} s")
