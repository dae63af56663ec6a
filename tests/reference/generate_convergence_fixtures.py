"""Regenerate PyBLP's side of the convergence workloads: `PYTHONPATH=. python
tests/reference/generate_convergence_fixtures.py [workload ...]` (about 40 s of PyBLP each, too slow to run live).

Writes `fixtures/<name>.json` with the estimates, standard errors and objective (as `generate_fixtures.py`), PyBLP's
`converged` (the last GMM step's optimizer) and `cumulative_converged` (every step's).
"""

from __future__ import annotations

import os
import sys
import time

for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ.setdefault(variable, '1')

from convergence_workloads import CONVERGENCE_WORKLOADS  # noqa: E402
from generate_fixtures import write  # noqa: E402
from workloads import summarize  # noqa: E402


def generate(name: str) -> dict:
    import pyblp
    pyblp.options.verbose = False
    started = time.perf_counter()
    results = CONVERGENCE_WORKLOADS[name](pyblp)
    return {**summarize(results, time.perf_counter() - started), 'pyblp_version': pyblp.__version__,
            'converged': bool(results.converged), 'cumulative_converged': bool(results.cumulative_converged)}


if __name__ == '__main__':
    write(sys.argv[1:] or CONVERGENCE_WORKLOADS, generate)
