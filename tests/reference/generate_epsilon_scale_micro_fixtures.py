"""Regenerate PyBLP's numbers for micro moments, scores, importance sampling, resampled agents and persistent
unobservables with a scaled logit error: `PYTHONPATH=. python tests/reference/generate_epsilon_scale_micro_fixtures.py
[name ...]`.

Each workload of `epsilon_scale_micro_workloads.py` runs in PyBLP and its outcomes are written to
`fixtures/epsilon_scale_micro_<name>.npz`, with PyBLP's version.
"""

from __future__ import annotations

import os

for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ.setdefault(variable, '1')

from epsilon_scale_micro_workloads import WORKLOADS, outcomes  # noqa: E402
from stored_outcomes import write  # noqa: E402

if __name__ == '__main__':
    write('epsilon_scale_micro', outcomes, WORKLOADS)
