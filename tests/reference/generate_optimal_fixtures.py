"""Regenerate PyBLP's optimal-instrument numbers: `PYTHONPATH=. python tests/reference/generate_optimal_fixtures.py [name ...]`.

For each workload of `OPTIMAL`: solve it (as `workloads.py`), compute approximate optimal instruments, re-create the
problem with them (`to_problem()`) and solve again from the first estimates; `fixtures/optimal_<name>.json` keeps the
re-estimate (estimates, SEs, objective), the expected prices and the instruments (column norms and the first market's
rows) for approximate instruments and for `normal` and `empirical` draws with a seed.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import numpy as np

for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ.setdefault(variable, '1')

from workloads import ROOT, WORKLOADS, _solve_arguments, run_blp, run_pyblp, summarize, timed  # noqa: E402

FIXTURES = ROOT / 'tests' / 'reference' / 'fixtures'
OPTIMAL = ('nevo', 'nevo_nested_logit', 'nevo_rcnl')
# (method, draws, seed) whose instruments are compared besides the approximate ones
DRAWN = (('normal', 3, 0), ('empirical', 2, 7))
ROWS = 24


def runner(library: str) -> Any:
    return run_pyblp if library == 'pyblp' else run_blp


def re_estimate(name: str, library: str) -> tuple[Any, Any, Any]:
    """(first results, approximate optimal instrument results, re-estimated results) in one library."""
    import pyblp

    import blp
    module = pyblp if library == 'pyblp' else blp
    workload = WORKLOADS[name]()
    results = runner(library)(workload)
    instruments = results.compute_optimal_instruments(method='approximate')
    arguments = _solve_arguments(workload['solve'], module)
    for key in ('sigma', 'pi', 'rho'):
        if key in arguments:
            arguments[key] = getattr(results, key)
    return results, instruments, instruments.to_problem().solve(**arguments)


def instrument_summary(instruments: Any) -> dict:
    Z = np.asarray(instruments.demand_instruments, dtype=float)
    return {'norms': np.linalg.norm(Z, axis=0).tolist(), 'rows': Z[:ROWS].tolist()}


def generate(name: str) -> dict:
    import pyblp
    (results, instruments, updated), seconds = timed(lambda _: re_estimate(name, 'pyblp'), {})
    summary = summarize(updated, seconds)
    summary['pyblp_version'] = pyblp.__version__
    summary['expected_prices'] = np.asarray(instruments.expected_prices, dtype=float)[:, 0].tolist()
    summary['approximate'] = instrument_summary(instruments)
    summary['drawn'] = {f'{method}-{draws}-{seed}': instrument_summary(
        results.compute_optimal_instruments(method=method, draws=draws, seed=seed)) for method, draws, seed in DRAWN}
    return summary


if __name__ == '__main__':
    for name in sys.argv[1:] or OPTIMAL:
        summary = generate(name)
        (FIXTURES / f'optimal_{name}.json').write_text(json.dumps(summary, indent=1) + '\n')
        print(f"{name}: re-estimated objective {summary['objective']:.10g} in {summary['seconds']:.1f} s")
