"""Peak memory (VmHWM) of one estimate, ours vs PyBLP, each library in a process of its own.

    python bench/memory.py [--T 500 2500] [--libraries blp pyblp] [--budget-mb MB] [--threads N]

The simulated problem of `bench/simulation.py` (J = 40 products, I = 300 agents, two random coefficients, two-step
GMM) at T markets: T = 500 is N = 20,000 products and 150,000 agents, T = 2,500 five times that. Each run is a fresh
child process (single-threaded BLAS), so its VmHWM is that library's peak: interpreter, libraries, data and the
estimate. Prints the data's resident size before the estimate, the peak, wall time and the estimates.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import _paths  # noqa: F401  (sys.path as the tests have it: bench/_paths.py)

for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[variable] = '1'


def status_kb(field: str) -> int:
    """A /proc/self/status field in kB (VmRSS, VmHWM)."""
    for line in Path('/proc/self/status').read_text().splitlines():
        if line.startswith(field + ':'):
            return int(line.split()[1])
    raise KeyError(field)


def child(library: str, T: int, budget_mb: float | None, threads: int) -> dict:
    """One estimate in this process: what `main` prints for it."""
    import numpy as np
    from simulation import workload
    from workloads import run_blp, run_pyblp, summarize

    problem = workload(T)
    if library == 'blp':
        import blp  # noqa: F401  (imports before the data measurement, as for PyBLP)
        problem['solve'].update(memory_budget_mb=budget_mb, threads=threads)
        run = run_blp
    else:
        import pyblp  # noqa: F401
        run = run_pyblp
    before = status_kb('VmRSS')
    started = time.perf_counter()
    results = run(problem)
    seconds = time.perf_counter() - started
    summary = summarize(results, seconds)
    return {'library': library, 'T': T, 'N': int(len(problem['products'])), 'budget_mb': budget_mb,
            'threads': threads, 'rss_before_mb': before / 1024, 'peak_mb': status_kb('VmHWM') / 1024,
            'seconds': seconds, 'objective': summary['objective'],
            'sigma': np.diag(np.asarray(summary['sigma'])).tolist(), 'beta': np.ravel(summary['beta']).tolist()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--T', type=int, nargs='+', default=[500, 2500])
    parser.add_argument('--libraries', nargs='+', default=['blp', 'pyblp'], choices=['blp', 'pyblp'])
    parser.add_argument('--budget-mb', type=float, default=None, help='our chunk budget (default: the shipped one)')
    parser.add_argument('--threads', type=int, default=1, help='our threads over market chunks')
    parser.add_argument('--child', nargs=2, metavar=('LIBRARY', 'T'), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        library, T = arguments.child
        print(json.dumps(child(library, int(T), arguments.budget_mb, arguments.threads)))
        return
    print(f"{'library':<7} {'T':>6} {'N':>8} {'data MB':>8} {'peak MB':>8} {'seconds':>8}  objective, sigma")
    for T in arguments.T:
        for library in arguments.libraries:
            command = [sys.executable, __file__, '--child', library, str(T), '--threads', str(arguments.threads)]
            if arguments.budget_mb is not None:
                command += ['--budget-mb', str(arguments.budget_mb)]
            output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            row = json.loads(output.strip().splitlines()[-1])
            print(f"{library:<7} {T:>6} {row['N']:>8} {row['rss_before_mb']:>8.0f} {row['peak_mb']:>8.0f} "
                  f"{row['seconds']:>8.1f}  {row['objective']:.6g}, {[round(s, 4) for s in row['sigma']]}",
                  flush=True)


if __name__ == '__main__':
    main()
