"""Regenerate PyBLP's persistent-unobservables reference numbers:
`PYTHONPATH=. python tests/reference/generate_persistence_fixtures.py [name ...]`, one `fixtures/<name>.json` per
workload of `persistence_workloads.py` (those named, or all), with PyBLP's version and time."""

from __future__ import annotations

import json
import os
import sys

for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ.setdefault(variable, '1')

from persistence_workloads import FIXTURES, WORKLOADS, panel, run_pyblp  # noqa: E402
from supply_workloads import frame_digest  # noqa: E402

if __name__ == '__main__':
    import pyblp
    products, _ = panel()
    for name in sys.argv[1:] or WORKLOADS:
        reference = dict(run_pyblp(name), products_digest=frame_digest(products), pyblp_version=pyblp.__version__)
        (FIXTURES / f'{name}.json').write_text(json.dumps(reference, indent=1) + '\n')
        print(name, f"{reference['seconds']:.1f}s")
