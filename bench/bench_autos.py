"""PyBLP's BLP (1995) automobile replication with its supply side, timed in one process, single-threaded.

    python bench/bench_autos.py [--repeat N]

Runs the `supply_blp_autos` workload of tests/reference/supply_workloads.py (log costs, costs_bounds=(0.001, None),
clustered W and SEs, initial_update, the tutorial's starting values) in PyBLP and prints its wall time (best of N,
Problem construction plus solve), objective and gamma. blp's side, with the ratio, joins once `Problem` takes X3.
"""

from __future__ import annotations

import argparse
import os
import sys

for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[variable] = '1'

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'reference'))

from supply_workloads import SUPPLY_WORKLOADS, run_pyblp  # noqa: E402
from workloads import timed  # noqa: E402

NAME = 'supply_blp_autos'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeat', type=int, default=1, help='runs; the best time counts')
    arguments = parser.parse_args()
    import pyblp
    print(f'pyblp {pyblp.__version__}, numpy {np.__version__}, single thread, best of {arguments.repeat}')
    workload = SUPPLY_WORKLOADS[NAME]()
    best, results = np.inf, None
    for _ in range(arguments.repeat):
        results, seconds = timed(run_pyblp, workload)
        best = min(best, seconds)
    print(f"{NAME}: PyBLP {best:.2f} s, objective {float(np.squeeze(results.objective)):.6f}, "
          f"gamma {np.round(np.ravel(results.gamma), 4).tolist()}", flush=True)


if __name__ == '__main__':
    main()
