"""Regenerate PyBLP's numbers for simulations with a scaled logit error and profit Hessians with nests:
`PYTHONPATH=. python tests/reference/generate_simulation_option_fixtures.py [name ...]`.

Each workload of `simulation_option_workloads.py` is simulated and solved in PyBLP (a second in all) and its outcomes
written to `fixtures/simulation_<name>.npz`, with PyBLP's version.
"""

from __future__ import annotations

import os
import sys

import numpy as np

for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ.setdefault(variable, '1')

from simulation_option_workloads import FIXTURES, WORKLOADS, outcomes  # noqa: E402


def generate(name: str) -> dict[str, np.ndarray]:
    import pyblp
    return {**outcomes(pyblp, name), 'pyblp_version': np.array(pyblp.__version__)}


if __name__ == '__main__':
    FIXTURES.mkdir(exist_ok=True)
    for name in sys.argv[1:] or WORKLOADS:
        np.savez_compressed(FIXTURES / f'simulation_{name}.npz', **generate(name))
        print(f'{name}: written', flush=True)
