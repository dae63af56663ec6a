"""PyBLP vs blp on optimal instruments, in one process, single-threaded, from the same estimates.

    python bench/bench_optimal.py [workload ...] [--repeat N]

Both libraries start at PyBLP's stored estimate of the workload (tests/reference/fixtures/<workload>.json, evaluated
without optimizing), then each times what PyBLP's tutorial does next: `compute_optimal_instruments()` (approximate),
`to_problem()` and `solve` again from the estimates with the workload's optimizer. Prints each library's wall time
(best of N), the ratio blp / PyBLP and the largest relative difference of the re-estimated parameters.
Default: Nevo's problem.
"""

from __future__ import annotations

import argparse
import os
from functools import partial

import _paths  # noqa: F401  (sys.path as the tests have it: bench/_paths.py)

for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[variable] = '1'

from comparison import best_time, largest_difference, libraries, results_at, stored_estimate, versions  # noqa: E402
from generate_optimal_fixtures import FIXTURES, OPTIMAL  # noqa: E402
from workloads import WORKLOADS, _solve_arguments  # noqa: E402

DEFAULT = ['nevo']


def re_estimate(module: object, results: object, workload: dict) -> object:
    arguments = _solve_arguments(workload['solve'], module)
    for key in ('sigma', 'pi', 'rho'):
        if key in arguments:
            arguments[key] = getattr(results, key)
    return results.compute_optimal_instruments(method='approximate').to_problem().solve(**arguments)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('workloads', nargs='*', help=f'default: {" ".join(DEFAULT)}; any of {", ".join(OPTIMAL)}')
    parser.add_argument('--repeat', type=int, default=1, help='runs per library; the best time counts')
    arguments = parser.parse_args()
    pyblp, blp = libraries()
    print(versions(arguments.repeat))
    print(f"{'workload':<22} {'PyBLP s':>9} {'blp s':>9} {'ratio':>7} {'estimates diff':>15}")
    for name in arguments.workloads or DEFAULT:
        workload = WORKLOADS[name]()
        estimate = stored_estimate(FIXTURES / f'{name}.json')
        theirs_time, theirs = best_time(partial(re_estimate, pyblp, results_at(pyblp, workload, estimate), workload),
                                        arguments.repeat)
        ours_time, ours = best_time(partial(re_estimate, blp, results_at(blp, workload, estimate), workload),
                                    arguments.repeat)
        print(f'{name:<22} {theirs_time:>9.3f} {ours_time:>9.3f} {ours_time / theirs_time:>7.3f} '
              f'{largest_difference(ours, theirs):>15.2e}', flush=True)


if __name__ == '__main__':
    main()
