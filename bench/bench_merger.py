"""PyBLP vs blp on a merger simulation, in one process, single-threaded, at the same estimates.

    python bench/bench_merger.py [workload ...] [--repeat N]

Both libraries are evaluated at PyBLP's stored estimate (tests/reference/fixtures/postestimation_<workload>.npz),
then each times the merger simulation of PyBLP's post-estimation tutorial: compute_costs, compute_prices with the
merged firm ids, compute_shares at the new prices. Prints each library's wall time (best of N), the ratio
blp / PyBLP and the largest relative difference in the new prices and shares. Default: the Nevo merger of firm 2
into firm 1.
"""

from __future__ import annotations

import argparse
import os
from functools import partial

import _paths  # noqa: F401  (sys.path as the tests have it: bench/_paths.py)

for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[variable] = '1'

import numpy as np  # noqa: E402
from comparison import best_time, libraries, relative_difference, results_at, versions  # noqa: E402
from generate_postestimation_fixtures import CASES, FIXTURES  # noqa: E402
from workloads import WORKLOADS  # noqa: E402

DEFAULT = ['nevo']


def merger(results: object, merged: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    costs = results.compute_costs()
    prices = results.compute_prices(firm_ids=merged, costs=costs)
    return prices, results.compute_shares(prices)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('workloads', nargs='*', help=f'default: {" ".join(DEFAULT)}; any of {", ".join(CASES)}')
    parser.add_argument('--repeat', type=int, default=5, help='runs per library; the best time counts')
    arguments = parser.parse_args()
    pyblp, blp = libraries()
    print(versions(arguments.repeat))
    print(f"{'workload':<22} {'PyBLP s':>9} {'blp s':>9} {'ratio':>7} {'prices diff':>12} {'shares diff':>12}")
    for name in arguments.workloads or DEFAULT:
        workload = WORKLOADS[name]()
        with np.load(FIXTURES / f'postestimation_{name}.npz') as stored:
            estimate = {key: stored[key] for key in ('sigma', 'pi', 'rho')}
        merged = workload['products']['firm_ids'].replace(*CASES[name]['merger']).to_numpy()
        theirs_time, (theirs_prices, theirs_shares) = best_time(
            partial(merger, results_at(pyblp, workload, estimate), merged), arguments.repeat)
        ours_time, (ours_prices, ours_shares) = best_time(
            partial(merger, results_at(blp, workload, estimate), merged), arguments.repeat)
        print(f'{name:<22} {theirs_time:>9.4f} {ours_time:>9.4f} {ours_time / theirs_time:>7.3f} '
              f'{relative_difference(ours_prices, theirs_prices):>12.2e} '
              f'{relative_difference(ours_shares, theirs_shares):>12.2e}', flush=True)


if __name__ == '__main__':
    main()
