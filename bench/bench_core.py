"""PyBLP vs blp on the same problems, in one process, single-threaded, at the same tolerances.

    python bench/bench_core.py [workload ...] [--repeat N]

Prints each library's wall time (best of N, Problem construction plus solve), the ratio blp / PyBLP and the
largest relative difference between the two sets of estimates. Workloads are those of
tests/reference/workloads.py (default: the cereal random-coefficients exercise, the Nevo replication and random
coefficients nested logit on Nevo's data nested by mushy, `nevo_rcnl`).
"""

from __future__ import annotations

import argparse
import os

import _paths  # noqa: F401  (sys.path as the tests have it: bench/_paths.py)

for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[variable] = '1'

import numpy as np  # noqa: E402
from comparison import largest_difference, versions  # noqa: E402
from micro_workloads import MICRO_WORKLOADS  # noqa: E402
from workloads import WORKLOADS, run_blp, run_pyblp, summarize, timed  # noqa: E402

WORKLOADS = {**WORKLOADS, **MICRO_WORKLOADS}  # exercise 3 (micro moments): python bench/bench_core.py exercise3_diversion

DEFAULT = ['cereal_sigma_prices', 'nevo', 'nevo_rcnl']


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('workloads', nargs='*', help=f'default: {" ".join(DEFAULT)}; any of {", ".join(WORKLOADS)}')
    parser.add_argument('--repeat', type=int, default=1, help='runs per library; the best time counts')
    arguments = parser.parse_args()
    import pyblp  # noqa: F401

    import blp.estimation.estimator  # noqa: F401  (import costs, scipy.optimize included, stay outside the timings)
    print(versions(arguments.repeat))
    print(f"{'workload':<22} {'PyBLP s':>9} {'blp s':>9} {'ratio':>7} {'max rel diff':>13}")
    for name in arguments.workloads or DEFAULT:
        workload = WORKLOADS[name]()
        theirs_time, ours_time = np.inf, np.inf
        for _ in range(arguments.repeat):
            theirs, seconds = timed(run_pyblp, workload)
            theirs_time = min(theirs_time, seconds)
            ours, seconds = timed(run_blp, workload)
            ours_time = min(ours_time, seconds)
        difference = largest_difference(summarize(ours, 0), summarize(theirs, 0))
        print(f'{name:<22} {theirs_time:>9.2f} {ours_time:>9.2f} {ours_time / theirs_time:>7.3f} {difference:>13.2e}',
              flush=True)


if __name__ == '__main__':
    main()
