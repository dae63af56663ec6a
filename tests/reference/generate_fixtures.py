"""Regenerate PyBLP's reference numbers: `PYTHONPATH=. python tests/reference/generate_fixtures.py [workload ...]`.

Runs each workload of `workloads.py` in PyBLP (single-threaded) and writes `fixtures/<name>.json` with the
estimates, standard errors, objective and the PyBLP version, so the default test run compares against stored
numbers instead of spending minutes in PyBLP.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Callable, Iterable

import numpy as np

for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ.setdefault(variable, '1')

from workloads import ROOT, WORKLOADS, run_pyblp, summarize, timed  # noqa: E402

FIXTURES = ROOT / 'tests' / 'reference' / 'fixtures'


def pyblp_summary(workload: dict) -> tuple[Any, dict]:
    """PyBLP's results of a workload and the numbers the tests compare, with PyBLP's version."""
    import pyblp
    results, seconds = timed(run_pyblp, workload)
    summary = summarize(results, seconds)
    summary['pyblp_version'] = pyblp.__version__
    summary['converged'] = bool(np.all(results.converged)) if hasattr(results, 'converged') else None
    return results, summary


def generate(name: str) -> dict:
    return pyblp_summary(WORKLOADS[name]())[1]


def write(names: Iterable[str], generate: Callable[[str], dict]) -> None:
    """Generate each named fixture and write it as fixtures/<name>.json."""
    FIXTURES.mkdir(exist_ok=True)
    for name in names:
        summary = generate(name)
        (FIXTURES / f'{name}.json').write_text(json.dumps(summary, indent=1) + '\n')
        print(f"{name}: objective {summary['objective']:.10g} in {summary['seconds']:.1f} s", flush=True)


if __name__ == '__main__':
    write(sys.argv[1:] or WORKLOADS, generate)
