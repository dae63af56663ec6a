"""Regenerate PyBLP's numbers for simulations with a scaled logit error and profit Hessians with nests:
`PYTHONPATH=. python tests/reference/generate_simulation_option_fixtures.py [name ...]`.

Each workload of `simulation_option_workloads.py` is simulated and solved in PyBLP (a second in all) and its outcomes
written to `fixtures/simulation_<name>.npz`, with PyBLP's version.
"""

from __future__ import annotations

import os

for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ.setdefault(variable, '1')

from simulation_option_workloads import WORKLOADS, outcomes  # noqa: E402
from stored_outcomes import write  # noqa: E402

if __name__ == '__main__':
    write('simulation', outcomes, WORKLOADS)
