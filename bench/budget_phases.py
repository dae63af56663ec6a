"""What each phase of a default demand-only job allocates, next to the cost model's estimate: the tracemalloc peak
(numpy reports its buffers to tracemalloc) above the data already in memory, per phase.

    python bench/budget_phases.py [--T 2000] [--J 100] [--I 100] [--supply] [--budget-mb MB]

The simulated problem of `bench/simulation.py` (random coefficients on prices and x, income on prices: P = 3), with
`--supply` a supply side too (X3 = 1 + x, linear costs, the price coefficient in theta: P = 4).
Phases: building the problem, the estimation (its moments and W), one objective-and-gradient evaluation, a short
solve (two L-BFGS-B iterations, then standard errors and the Hessian) and, as multi-start and the bootstrap do per
start or draw, the mean own-price elasticity over every market (post-estimation). Prints each phase's peak, the
cost model's estimate without the interpreter's fixed part (`memory_bytes - BASE_BYTES`) and the agent array.
"""

from __future__ import annotations

import argparse
import os
import time
import tracemalloc
from dataclasses import replace

for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[variable] = '1'


SUPPLY_BETA = [None, -2.0, None]  # the price coefficient is optimized over with a supply side (PyBLP's rule)


def spec_of(supply: bool, budget_mb: float | None) -> dict:
    """The simulated problem as a service spec, for the cost model."""
    from simulation import PI, SIGMA
    formulations = [{'formula': '1 + prices + x'}, {'formula': '0 + prices + x'}]
    solve = {'sigma': (SIGMA * 1.1).tolist(), 'pi': (PI * 1.1).tolist(), 'method': '1s', 'memory_budget_mb': budget_mb}
    if supply:
        formulations.append({'formula': '1 + x'})
        solve['beta'] = SUPPLY_BETA
    return {'problem': {'product_formulations': formulations, 'agent_formulation': {'formula': '0 + income'}},
            'solve': solve}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--T', type=int, default=2000)
    parser.add_argument('--J', type=int, default=100)
    parser.add_argument('--I', type=int, default=100)
    parser.add_argument('--supply', action='store_true', help='with a supply side')
    parser.add_argument('--budget-mb', type=float, default=None, help='the chunk budget (default: the shipped one)')
    arguments = parser.parse_args()

    from simulation import workload

    import blp
    from blp.configurations.budget import BASE_BYTES, cost, sizes_of
    from blp.configurations.solve_options import SolveOptions
    from blp.estimation.estimator import Estimation
    from blp.post.postestimation import mean_own_elasticity
    from blp.spec import EstimateSpec

    problem = workload(arguments.T, arguments.J, arguments.I, demographic=True, method='1s', near_truth=True)
    products, agents = problem['products'], problem['agents']
    formulations = list(problem['formulations'])
    problem['solve']['memory_budget_mb'] = arguments.budget_mb
    if arguments.supply:
        products = products.assign(supply_instruments0=products['demand_instruments0'],
                                   supply_instruments1=products['demand_instruments1'])
        formulations.append(('1 + x', None))
        problem['solve'].update(beta=SUPPLY_BETA)
    sizes, _ = sizes_of(EstimateSpec.model_validate(spec_of(arguments.supply, arguments.budget_mb)), products, agents)
    sizes = replace(sizes, data_cells=0)  # the frames are in memory before the measurement starts
    estimate = cost(sizes)
    print(f'T = {arguments.T:,} x J = {arguments.J} x I = {arguments.I}{" with supply" if arguments.supply else ""}: agent array '
          f'{estimate.agent_array_bytes / 1e6:,.0f} MB, estimate without the interpreter '
          f'{(estimate.memory_bytes - BASE_BYTES) / 1e6:,.0f} MB (blocks: {estimate.blocks})')

    tracemalloc.start()
    held = {}

    def phase(name: str, call):  # noqa: ANN001, ANN202
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        started = time.perf_counter()
        value = call()
        current, peak = tracemalloc.get_traced_memory()
        held[name] = value
        print(f'{name:<28} peak {(peak - base) / 1e6:>8,.0f} MB above {base / 1e6:>8,.0f} MB held before; '
              f'holds {current / 1e6:>8,.0f} MB after; {time.perf_counter() - started:6.1f} s', flush=True)
        return value

    built = phase('build problem', lambda: blp.Problem(
        [blp.Formulation(f, a) for f, a in formulations], products, blp.Formulation('0 + income'),
        agents))
    solve = {key: value for key, value in problem['solve'].items() if key != 'optimization'}
    estimation = phase('estimation', lambda: Estimation(built, SolveOptions(**solve)))
    phase('one evaluation', lambda: estimation.evaluate(estimation.parameters.theta,
                                                        estimation.moments.iv(estimation.W)))
    held.pop('one evaluation')
    results = phase('short solve + statistics', lambda: built.solve(
        **solve, optimization=blp.Optimization('l-bfgs-b', {'maxiter': 2})))
    phase('mean own elasticity', lambda: mean_own_elasticity(results))
    first, peak = tracemalloc.get_traced_memory()
    print(f'overall traced peak {peak / 1e6:,.0f} MB')


if __name__ == '__main__':
    main()
