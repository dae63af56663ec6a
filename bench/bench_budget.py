"""The cost model against measurement: peak memory of building and solving the cereal problem in a fresh process
for several agent counts, next to blp.configurations.budget's estimate.

    python bench/bench_budget.py [agents ...]

Each run is a subprocess (single-threaded BLAS) that builds the problem with Halton agents, solves a few
iterations of the one-step GMM (memory peaks within the first evaluation) and reports its peak RSS.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import _paths  # noqa: F401  (sys.path as the tests have it: bench/_paths.py)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
SPEC = {'problem': {'product_formulations': [{'formula': '0 + prices', 'absorb': 'C(market_ids) + C(product_ids)'},
                                             {'formula': '0 + mushy + prices'}]},
        'solve': {'sigma': [[0.5, 0], [0.1, 1]], 'method': '1s'}}

PROBE = '''
import json, resource, sys
import blp
from blp.spec import EstimateSpec, solve_options
from examples import cereal
spec = EstimateSpec.model_validate(json.loads(sys.argv[1]))
problem = blp.Problem.from_spec(spec.problem, cereal.product_data())
problem.estimate(solve_options(spec.solve).replace(optimization=blp.Optimization('l-bfgs-b', {'maxiter': 2})))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
'''


def main() -> None:
    from blp.configurations.budget import cost, sizes_of
    from blp.spec import EstimateSpec
    from examples import cereal

    environment = {**os.environ, 'PYTHONPATH': ROOT, 'OMP_NUM_THREADS': '1', 'OPENBLAS_NUM_THREADS': '1'}
    print(f"{'agents':>8} {'agent array MB':>15} {'estimate MB':>12} {'measured MB':>12} {'estimate/measured':>18}")
    for agents in [int(a) for a in sys.argv[1:]] or [1000, 4000, 8000, 16000]:
        spec = {**SPEC, 'problem': {**SPEC['problem'], 'integration': {'specification': 'halton', 'size': agents}}}
        estimate = cost(sizes_of(EstimateSpec.model_validate(spec), cereal.product_data())[0])
        measured = int(subprocess.run([sys.executable, '-c', PROBE, json.dumps(spec)], cwd=ROOT, env=environment,
                                      capture_output=True, text=True, check=True).stdout.split()[-1])
        print(f'{agents:>8} {estimate.agent_array_bytes / 1e6:>15.0f} {estimate.memory_bytes / 1e6:>12.0f} '
              f'{measured / 1e6:>12.0f} {estimate.memory_bytes / measured:>18.2f}', flush=True)


if __name__ == '__main__':
    main()
