"""Regenerate PyBLP's optimal instruments with a linear parameter in theta:
`PYTHONPATH=. python tests/reference/generate_optimal_beta_fixtures.py`.

The exercise-1 IV logit with beta on prices optimized over (`beta=[-30]`) rather than concentrated out: its optimal
instrument is d xi / d beta = -E[prices | Z] / Var(xi), and `to_problem()` adds no expected-price column. Writes
`fixtures/optimal_logit_beta.json`: the re-estimate (estimates, SEs, objective), the instruments' column norms and
first rows, and the new problem's instrument count.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import numpy as np

for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ.setdefault(variable, '1')

from generate_optimal_fixtures import FIXTURES, ROWS  # noqa: E402
from workloads import ABSORB_BOTH, cereal, summarize  # noqa: E402

NAME = 'optimal_logit_beta'


def re_estimate(module: Any) -> tuple[Any, Any]:
    """(optimal instrument results, the re-estimate from the first estimate's beta) in `module` (pyblp or blp)."""
    if module.__name__ == 'pyblp':
        module.options.verbose = False
    problem = module.Problem(module.Formulation('0 + prices', absorb=ABSORB_BOTH), cereal.product_data('price'))
    arguments = dict(method='1s', optimization=module.Optimization('l-bfgs-b', {'gtol': 1e-12}))
    results = problem.solve(beta=[-30], **arguments)
    instruments = results.compute_optimal_instruments()
    return instruments, instruments.to_problem().solve(beta=results.beta, **arguments)


def generate() -> dict:
    import pyblp
    started = time.perf_counter()
    instruments, updated = re_estimate(pyblp)
    summary = summarize(updated, time.perf_counter() - started)
    Z = np.asarray(instruments.demand_instruments, dtype=float)
    summary.update(pyblp_version=pyblp.__version__, norms=np.linalg.norm(Z, axis=0).tolist(), rows=Z[:ROWS].tolist(),
                   MD=int(updated.problem.MD))
    return summary


if __name__ == '__main__':
    summary = generate()
    (FIXTURES / f'{NAME}.json').write_text(json.dumps(summary, indent=1) + '\n')
    print(f"{NAME}: re-estimated objective {summary['objective']:.10g} in {summary['seconds']:.1f} s")
