"""Regenerate PyBLP's numbers for the micro moment options (`micro_option_workloads.py`):
`PYTHONPATH=. python tests/reference/generate_micro_option_fixtures.py [workload ...]`.

Writes `fixtures/<name>.json`: estimates, standard errors and objective (as `generate_fixtures.py`), the fitted micro
moment values, the micro moments' covariances and the moments' simulation covariances.
"""

from __future__ import annotations

import os
import sys

import numpy as np

for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ.setdefault(variable, '1')

from generate_fixtures import pyblp_summary, write  # noqa: E402
from micro_option_workloads import MICRO_OPTION_WORKLOADS  # noqa: E402


def generate(name: str) -> dict:
    results, summary = pyblp_summary(MICRO_OPTION_WORKLOADS[name]())
    for key in ('micro_values', 'micro_covariances', 'simulation_covariances'):
        summary[key] = np.asarray(getattr(results, key), dtype=float).tolist()
    return summary


if __name__ == '__main__':
    write(sys.argv[1:] or MICRO_OPTION_WORKLOADS, generate)
