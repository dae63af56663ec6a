"""PyBLP's BLP (1995) automobile replication with its supply side, timed in one process, single-threaded.

    python bench/bench_autos.py [--repeat N]

Runs the `supply_blp_autos` workload of tests/reference/supply_workloads.py (log costs, costs_bounds=(0.001, None),
clustered W and SEs, initial_update, the tutorial's starting values) in PyBLP and prints its wall time (best of N,
Problem construction plus solve), then the same in blp, the ratio blp / PyBLP, both objectives and the largest
relative difference in beta, gamma, sigma and pi.
"""

from __future__ import annotations

import argparse
import os

import _paths  # noqa: F401  (sys.path as the tests have it: bench/_paths.py)

for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[variable] = '1'

import numpy as np  # noqa: E402
from comparison import largest_difference, versions  # noqa: E402
from supply_workloads import SUPPLY_WORKLOADS, run_blp, run_pyblp  # noqa: E402
from workloads import timed  # noqa: E402

NAME = 'supply_blp_autos'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeat', type=int, default=1, help='runs; the best time counts')
    arguments = parser.parse_args()
    print(versions(arguments.repeat))
    workload = SUPPLY_WORKLOADS[NAME]()
    times: dict[str, float] = {}
    results = {}
    for library, run in (('PyBLP', run_pyblp), ('blp', run_blp)):
        times[library] = np.inf
        for _ in range(arguments.repeat):
            results[library], seconds = timed(run, workload)
            times[library] = min(times[library], seconds)
    worst = largest_difference(results['blp'], results['PyBLP'])
    print(f"{NAME}: PyBLP {times['PyBLP']:.2f} s, blp {times['blp']:.2f} s, ratio {times['blp'] / times['PyBLP']:.3f}; "
          f"objective PyBLP {float(np.squeeze(results['PyBLP'].objective)):.6f}, blp {results['blp'].objective:.6f}; "
          f"largest relative estimate difference {worst:.2e}", flush=True)


if __name__ == '__main__':
    main()
