"""Regenerate PyBLP's covariance-restriction reference numbers:
`PYTHONPATH=. python tests/reference/generate_covariance_fixtures.py [name ...]`.

Each workload of `covariance_workloads.py` (on the simulation stored by `generate_supply_fixtures.py`) is solved in
PyBLP (single-threaded) and written to `fixtures/<name>.json` as the supply fixtures are (estimates, SEs, objective,
xi / omega summaries, PyBLP's d xi/d theta and d omega/d theta in two markets: with covariance moments these are the
total derivatives, through the concentrated-out beta and gamma), plus PyBLP's count of covariance moments, the
covariance moments at the estimate and its `Dimensions` table.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np
from covariance_workloads import COVARIANCE_WORKLOADS
from generate_supply_fixtures import generate
from supply_workloads import FIXTURES


def covariance_numbers(results: Any, workload: dict) -> dict:
    """MC, the covariance moments Z_C'(xi omega - m) / N at PyBLP's estimate and PyBLP's Dimensions table."""
    problem = results.problem
    ZC = np.asarray(problem.products.ZC, dtype=float)
    errors = np.ravel(results.xi) * np.ravel(results.omega) - workload['solve']['covariance_moments_mean']
    return dict(MC=int(problem.MC), covariance_moments=(ZC.T @ errors / problem.N).tolist(),
                dimensions_table=str(problem).split('\n\n')[0])


if __name__ == '__main__':
    for name in sys.argv[1:] or COVARIANCE_WORKLOADS:
        summary = generate(name, COVARIANCE_WORKLOADS, covariance_numbers)
        (FIXTURES / f'{name}.json').write_text(json.dumps(summary, indent=1) + '\n')
        print(f"{name}: objective {summary['objective']:.10g} in {summary['seconds']:.1f} s", flush=True)
