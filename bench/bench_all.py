"""The whole PyBLP-vs-blp ratio table: each workload in its own process, PyBLP and blp in that same process,
single-threaded, at the same tolerances and with the same optimizer.

    python bench/bench_all.py                       # every workload, one child process each, then the table
    python bench/bench_all.py --workload nevo       # one workload in this process (repeatable flag)

Each row: PyBLP's wall time, ours, the ratio ours / PyBLP, the same in CPU time of the process, the largest
relative difference of the estimates (beta, gamma, sigma, pi, rho; elements PyBLP reports as zero are skipped) and
the 1-minute load average before and after the row (the machine is shared: both libraries run in one process,
alternating, so they see about the same load; CPU time is the steadier figure when the load is high).
The workloads themselves live where the tests and the other benches define them; this file only times them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

import _paths  # noqa: F401  (sys.path as the tests have it: bench/_paths.py)

for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[variable] = '1'

import numpy as np  # noqa: E402
import supply_workloads  # noqa: E402
import workloads  # noqa: E402
from comparison import largest_difference, libraries, results_at, stored_estimate  # noqa: E402
from micro_workloads import MICRO_WORKLOADS  # noqa: E402
from simulated_workload import simulated_large  # noqa: E402


@dataclass(frozen=True)
class Workload:
    """One row of the table: the data and settings (`make`, untimed) and each library's timed run of them."""

    description: str
    make: Callable[[], dict]
    run_pyblp: Callable[[dict], Any]
    run_blp: Callable[[dict], Any]


def optimal_nevo() -> dict:
    """bench_optimal.py's Nevo row: both libraries' results at PyBLP's stored estimate (untimed), from which each
    computes approximate optimal instruments and re-estimates (timed)."""
    from bench_optimal import FIXTURES

    pyblp, blp = libraries()
    workload = workloads.WORKLOADS['nevo']()
    estimate = stored_estimate(FIXTURES / 'nevo.json')
    return dict(workload=workload, pyblp=results_at(pyblp, workload, estimate), blp=results_at(blp, workload, estimate))


def re_estimate(library: str) -> Callable[[dict], Any]:
    def run(made: dict) -> Any:
        from bench_optimal import re_estimate
        return re_estimate(__import__(library), made[library], made['workload'])
    return run


WORKLOADS: dict[str, Workload] = {
    'cereal_rc': Workload('exercise 2 RC: σ on prices, π on log income, 94 markets × 1000 agents, trust-constr',
                          workloads.WORKLOADS['cereal_sigma_prices'], workloads.run_pyblp, workloads.run_blp),
    'nevo': Workload('Nevo replication, 13 parameters, BFGS', workloads.WORKLOADS['nevo'], workloads.run_pyblp,
                     workloads.run_blp),
    'simulated': Workload('simulated T=500, J=40, I=300 (N=20,000, 150,000 agents), 2 σ, 2-step, L-BFGS-B',
                          simulated_large, workloads.run_pyblp, workloads.run_blp),
    'autos': Workload('BLP autos with supply (log costs, clustered), trust-constr',
                      supply_workloads.SUPPLY_WORKLOADS['supply_blp_autos'], supply_workloads.run_pyblp,
                      supply_workloads.run_blp),
    'micro_q2': Workload('exercise 3 Q2: three micro moments, 6 parameters, trust-constr',
                         MICRO_WORKLOADS['exercise3_diversion'], workloads.run_pyblp, workloads.run_blp),
    'rcnl_mushy': Workload('RCNL on Nevo nested by mushy, one ρ, BFGS', workloads.WORKLOADS['nevo_rcnl'],
                           workloads.run_pyblp, workloads.run_blp),
    'optimal_nevo': Workload('Nevo re-estimated with approximate optimal instruments, BFGS', optimal_nevo,
                             re_estimate('pyblp'), re_estimate('blp')),
}


def timed(run: Callable[[dict], Any], made: dict) -> tuple[Any, float, float]:
    """The run's result, wall seconds and CPU seconds of this process (less sensitive to a shared machine)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = run(made)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def measure(name: str, repeat: int) -> dict:
    """One row, measured in this process: best of `repeat` for each library, alternating."""
    import pyblp  # noqa: F401

    import blp.estimation.estimator  # noqa: F401  (import costs, scipy.optimize included, stay outside the timings)
    from blp.model.logit_kernel import warm
    warm()  # compiling the kernel, or loading it from numba's cache, is a per-process cost like an import
    workload = WORKLOADS[name]
    made = workload.make()
    load_before = os.getloadavg()[0]
    best = {'pyblp': [np.inf, np.inf], 'blp': [np.inf, np.inf]}
    results: dict[str, Any] = {}
    for _ in range(repeat):
        for library, run in (('pyblp', workload.run_pyblp), ('blp', workload.run_blp)):
            results[library], wall, cpu = timed(run, made)
            best[library] = [min(best[library][0], wall), min(best[library][1], cpu)]
    return dict(workload=name, pyblp=best['pyblp'][0], blp=best['blp'][0], ratio=best['blp'][0] / best['pyblp'][0],
                pyblp_cpu=best['pyblp'][1], blp_cpu=best['blp'][1], cpu_ratio=best['blp'][1] / best['pyblp'][1],
                difference=largest_difference(results['blp'], results['pyblp']),
                load=[load_before, os.getloadavg()[0]])


def print_row(row: dict) -> None:
    print(f"{row['workload']:<13} {row['pyblp']:>8.2f} {row['blp']:>7.2f} {row['ratio']:>6.3f} "
          f"{row['pyblp_cpu']:>8.2f} {row['blp_cpu']:>7.2f} {row['cpu_ratio']:>6.3f} "
          f"{row['difference']:>8.1e} {row['load'][0]:>4.1f}-{row['load'][1]:<4.1f} {WORKLOADS[row['workload']].description}",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--workload', action='append', choices=list(WORKLOADS),
                        help='run in this process (repeatable); default: all, each in a child process')
    parser.add_argument('--repeat', type=int, default=1, help='runs per library; the best time counts')
    parser.add_argument('--json', action='store_true', help='print rows as JSON lines (used by the parent)')
    arguments = parser.parse_args()
    if not arguments.json:
        import pyblp
        print(f'pyblp {pyblp.__version__}, numpy {np.__version__}, single thread, best of {arguments.repeat}, '
              f'{time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}')
        print(f"{'':<13} {'wall s':-^23} {'CPU s':-^24}")
        print(f"{'workload':<13} {'PyBLP':>8} {'blp':>7} {'ratio':>6} {'PyBLP':>8} {'blp':>7} {'ratio':>6} "
              f"{'max diff':>8} {'load':>9} what")
    for name in arguments.workload or WORKLOADS:
        if arguments.workload:
            row = measure(name, arguments.repeat)
        else:
            child = subprocess.run([sys.executable, __file__, '--workload', name, '--repeat', str(arguments.repeat),
                                    '--json'], check=True, capture_output=True, text=True)
            row = json.loads(child.stdout.strip().splitlines()[-1])
        print(json.dumps(row), flush=True) if arguments.json else print_row(row)


if __name__ == '__main__':
    main()
