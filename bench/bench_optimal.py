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
import json
import os
import time

import _paths  # noqa: F401  (sys.path as the tests have it: bench/_paths.py)

for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[variable] = '1'

import numpy as np  # noqa: E402
from bench_merger import results_at  # noqa: E402
from generate_optimal_fixtures import FIXTURES, OPTIMAL  # noqa: E402
from workloads import WORKLOADS, _solve_arguments  # noqa: E402

DEFAULT = ['nevo']


def re_estimate(module: object, results: object, workload: dict) -> object:
    arguments = _solve_arguments(workload['solve'], module)
    for key in ('sigma', 'pi', 'rho'):
        if key in arguments:
            arguments[key] = getattr(results, key)
    return results.compute_optimal_instruments(method='approximate').to_problem().solve(**arguments)


def best_time(module: object, results: object, workload: dict, repeat: int) -> tuple[float, object]:
    best, updated = np.inf, None
    for _ in range(repeat):
        started = time.perf_counter()
        updated = re_estimate(module, results, workload)
        best = min(best, time.perf_counter() - started)
    return best, updated


def largest_difference(ours: object, theirs: object) -> float:
    differences = []
    for key in ('beta', 'sigma', 'pi', 'rho'):
        a, b = np.asarray(getattr(ours, key), dtype=float), np.asarray(getattr(theirs, key), dtype=float)
        if b.size:
            nonzero = b != 0
            differences.append(np.max(np.abs(a[nonzero] - b[nonzero]) / np.abs(b[nonzero]), initial=0.0))
    return float(max(differences))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('workloads', nargs='*', help=f'default: {" ".join(DEFAULT)}; any of {", ".join(OPTIMAL)}')
    parser.add_argument('--repeat', type=int, default=1, help='runs per library; the best time counts')
    arguments = parser.parse_args()
    import pyblp

    import blp
    pyblp.options.verbose = False
    print(f'pyblp {pyblp.__version__}, numpy {np.__version__}, single thread, best of {arguments.repeat}')
    print(f"{'workload':<22} {'PyBLP s':>9} {'blp s':>9} {'ratio':>7} {'estimates diff':>15}")
    for name in arguments.workloads or DEFAULT:
        workload = WORKLOADS[name]()
        stored = json.loads((FIXTURES / f'{name}.json').read_text())
        estimate = {key: np.array(stored[key] if stored[key] is not None else [], dtype=float)
                    for key in ('sigma', 'pi', 'rho')}
        theirs_time, theirs = best_time(pyblp, results_at(pyblp, workload, estimate), workload, arguments.repeat)
        ours_time, ours = best_time(blp, results_at(blp, workload, estimate), workload, arguments.repeat)
        print(f'{name:<22} {theirs_time:>9.3f} {ours_time:>9.3f} {ours_time / theirs_time:>7.3f} '
              f'{largest_difference(ours, theirs):>15.2e}', flush=True)


if __name__ == '__main__':
    main()
