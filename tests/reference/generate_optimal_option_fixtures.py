"""Regenerate PyBLP's optimal instruments under the options of `compute_optimal_instruments` and `to_problem`:
`PYTHONPATH=. python tests/reference/generate_optimal_option_fixtures.py [case ...]`.

On the stored supply simulation (`supply_workloads.simulation_data`), with and without its supply side, each library
is evaluated at PyBLP's estimated theta (`optimal_supply.json`) with `Optimization('return')`, computes approximate
optimal instruments with a case's options (`expected_prices`, `constant_costs`), re-creates the problem with a
case's `to_problem` options (`drop_indices`, shifter formulations, `product_data`) and evaluates that at the same
theta. `fixtures/optimal_option_<case>.json` keeps the instruments' column norms and expected prices, the new
problem's instrument counts and sorted column norms, and its objective, beta and gamma. Seconds per case.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import numpy as np

for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ.setdefault(variable, '1')

from generate_optimal_supply_fixtures import re_estimate  # noqa: E402
from supply_workloads import SUPPLY_WORKLOADS, run_blp, run_pyblp, simulation_data  # noqa: E402
from workloads import ROOT, summarize  # noqa: E402

FIXTURES = ROOT / 'tests' / 'reference' / 'fixtures'
# supply: with the supply side (linear costs x + z, beta on prices in theta); compute: compute_optimal_instruments'
# options (expected_prices: the column `expected`, EXPECTED times observed prices); to_problem: its options
# (product_data: with w = x z)
EXPECTED = 0.95
CASES: dict[str, dict[str, Any]] = {
    'supply_drop_indices': dict(supply=True, to_problem=dict(drop_indices=[1])),
    'supply_shifters': dict(supply=True, to_problem=dict(supply_shifter_formulation='z + I(z ** 2)',
                                                         demand_shifter_formulation='I(x ** 2) + w',
                                                         product_data=True)),
    'supply_constant_costs': dict(supply=True, compute=dict(constant_costs=False)),
    'supply_expected_prices': dict(supply=True, compute=dict(expected_prices=True)),
    'demand_expected_prices': dict(supply=False, compute=dict(expected_prices=True)),
    'demand_drop_indices': dict(supply=False, theta_beta=True, to_problem=dict(drop_indices=[0])),
}


def theta() -> list[float]:
    """PyBLP's estimated theta of the supply simulation: sigma, beta on prices."""
    return json.loads((FIXTURES / 'optimal_supply.json').read_text())['theta']


def evaluate(library: Any, problem: Any, case: dict) -> Any:
    sigma, alpha = theta()
    beta = {'beta': [None, alpha, None]} if case['supply'] or case.get('theta_beta') else {}
    return problem.solve(sigma=[[sigma]], optimization=library.Optimization('return'), method='1s', **beta)


def first_results(library: Any, case: dict) -> Any:
    products, agents = simulation_data()
    formulations = [library.Formulation('1 + prices + x'), library.Formulation('0 + x')]
    if case['supply']:
        formulations.append(library.Formulation('0 + x + z'))
    else:
        products = products[[name for name in products.columns if not name.startswith('supply_instruments')]]
    products = products.assign(expected=EXPECTED * products['prices'])  # for the API's expected_prices_column
    problem = library.Problem(formulations, products, None, agents, costs_type='linear') if case['supply'] else \
        library.Problem(formulations, products, None, agents)
    return evaluate(library, problem, case), products


def matrix_of(problem: Any, name: str) -> np.ndarray:
    """ZD or ZS of a problem (PyBLP keeps them in `products`)."""
    products = problem.products
    return np.asarray(getattr(products, name) if hasattr(products, name) else getattr(problem, name), dtype=float)


def outputs(library: Any, name: str) -> dict[str, Any]:
    """The instruments and the re-created problem evaluated at theta, as JSON."""
    case = CASES[name]
    results, products = first_results(library, case)
    compute = dict(case.get('compute', {}))
    if 'expected_prices' in compute:
        compute['expected_prices'] = products['expected'].to_numpy()
    instruments = results.compute_optimal_instruments(**compute)
    arguments = dict(case.get('to_problem', {}))
    for key in ('supply_shifter_formulation', 'demand_shifter_formulation'):
        if key in arguments:
            arguments[key] = library.Formulation(arguments[key])
    if arguments.get('product_data'):
        arguments['product_data'] = products.assign(w=products['x'] * products['z'])
    return summary(instruments, evaluate(library, instruments.to_problem(**arguments), case), case)


def summary(instruments: Any, updated: Any, case: dict) -> dict[str, Any]:
    """What is compared of the instruments and the re-created problem's evaluation, as JSON."""
    found: dict[str, Any] = {
        'demand_instruments': np.linalg.norm(np.asarray(instruments.demand_instruments, dtype=float), axis=0),
        'expected_prices': np.asarray(instruments.expected_prices, dtype=float).ravel()[:20],
        'objective': np.asarray(updated.objective, dtype=float).ravel(),
        'beta': np.asarray(updated.beta, dtype=float).ravel(), 'MD': updated.problem.MD,
        'ZD': np.sort(np.linalg.norm(matrix_of(updated.problem, 'ZD'), axis=0))}
    if case['supply']:
        found.update(supply_instruments=np.linalg.norm(np.asarray(instruments.supply_instruments, dtype=float), axis=0),
                     gamma=np.asarray(updated.gamma, dtype=float).ravel(), MS=updated.problem.MS,
                     ZS=np.sort(np.linalg.norm(matrix_of(updated.problem, 'ZS'), axis=0)))
    return {key: value.tolist() if isinstance(value, np.ndarray) else int(value) for key, value in found.items()}


def generate(name: str) -> dict[str, Any]:
    import pyblp
    pyblp.options.verbose = False
    if name == RE_ESTIMATE:
        return re_estimated(pyblp) | {'pyblp_version': pyblp.__version__}
    return outputs(pyblp, name) | {'pyblp_version': pyblp.__version__}


# The supply workload estimated, then re-estimated with optimal instruments under `to_problem` options (the API's
# `optimal_instruments` spec: formulas as strings), as `generate_optimal_supply_fixtures.re_estimate` does
RE_ESTIMATE = 're_estimate'
RE_ESTIMATE_OPTIONS = dict(drop_indices=[1], supply_shifter_formulation='z + I(z ** 2)',
                           demand_shifter_formulation='I(x ** 2)')


def re_estimated(library: Any) -> dict[str, Any]:
    """Estimates, SEs and objective (`workloads.summarize`), gamma and instrument counts of the re-estimate."""
    results = (run_pyblp if library.__name__ == 'pyblp' else run_blp)(SUPPLY_WORKLOADS['supply_simulation']())
    options = {key: library.Formulation(value) if key.endswith('formulation') else value
               for key, value in RE_ESTIMATE_OPTIONS.items()}
    updated = re_estimate(results, results.compute_optimal_instruments(), library, **options)
    return summarize(updated, 0) | {'gamma': np.asarray(updated.gamma, dtype=float).ravel().tolist(),
                                    'MD': int(updated.problem.MD), 'MS': int(updated.problem.MS)}


if __name__ == '__main__':
    for name in sys.argv[1:] or [*CASES, RE_ESTIMATE]:
        (FIXTURES / f'optimal_option_{name}.json').write_text(json.dumps(generate(name), indent=1) + '\n')
        print(f'{name}: written', flush=True)
