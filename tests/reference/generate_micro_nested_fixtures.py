"""Regenerate PyBLP's micro moments of second choices on RCNL with two nests and one rho per nest:
`PYTHONPATH=. python tests/reference/generate_micro_nested_fixtures.py`.

A small problem simulated by PyBLP (8 markets of 6 products, nests by parity, 9 agents per market) with four micro
datasets: first choices (income of inside buyers), second choices with only the first choice removed, with the first
choice's whole nest removed (`eliminated_product_ids_index=0`, product_ids0 the nest) and with its group within the
nest removed (index 1: pairs and singletons inside a nest). Observed micro values are PyBLP's at the true theta,
shifted, so the estimate is interior. PyBLP evaluates the problem at a fixed theta (`Optimization('return')`: micro
values, objective, gradient) and estimates it. `fixtures/micro_nested.npz` keeps the data and PyBLP's numbers;
`problem_and_moments` and `outputs` run the same calls on either library (PyBLP takes about 3 s).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ.setdefault(variable, '1')

from workloads import ROOT  # noqa: E402

FIXTURE = ROOT / 'tests' / 'reference' / 'fixtures' / 'micro_nested.npz'
T, J = 8, 6
SIGMA, PI, RHO = [[0, 0], [0, 0.8]], [[0.6], [0]], [[0.3], [0.6]]
FIXED = dict(sigma=[[0, 0], [0, 1.0]], pi=[[0.4], [0]], rho=[[0.4], [0.5]])  # where gradients are compared
SHIFTS = [0.02, -0.03, 0.02, 0.03, -0.02]  # observed = PyBLP's values at the truth + these
ITERATION = ('squarem', {'atol': 1e-14})


def same_nest(t: Any, products: Any, agents: Any) -> np.ndarray:
    """Second choice in the first choice's nest (outside second choices in column 0)."""
    nests = products.nesting_ids.ravel()
    values = np.zeros((agents.size, products.size, 1 + products.size))
    values[:, :, 1:] = nests[:, None] == nests[None, :]
    return values


def second_outside(t: Any, products: Any, agents: Any) -> np.ndarray:
    values = np.zeros((agents.size, products.size, 1 + products.size))
    values[:, :, 0] = 1
    return values


def x_product(t: Any, products: Any, agents: Any) -> np.ndarray:
    x = products.x.ravel()
    return np.ones((agents.size, products.size, 1 + products.size)) * np.r_[0, x][None, None] * x[None, :, None]


def micro_moments(library: Any, values: list[float]) -> list:
    """Five moments on four datasets (`values` their observed values, in order)."""
    def second(t: Any, products: Any, agents: Any) -> np.ndarray:
        return np.ones((agents.size, products.size, 1 + products.size))

    first = library.MicroDataset('first', 400, lambda t, p, a: np.ones((a.size, p.size)))
    alone = library.MicroDataset('second', 300, second, market_ids=[0, 2, 4, 6])
    nest = library.MicroDataset('nest gone', 200, second, eliminated_product_ids_index=0, market_ids=[1, 3, 5, 7])
    group = library.MicroDataset('group gone', 250, second, eliminated_product_ids_index=1, market_ids=[0, 1, 2, 3])
    parts = [library.MicroPart('income', first, lambda t, p, a: np.ones((a.size, p.size)) * a.demographics[:, [0]]),
             library.MicroPart('same nest', alone, same_nest), library.MicroPart('x x', alone, x_product),
             library.MicroPart('outside second', nest, second_outside), library.MicroPart('same nest in group', group, same_nest)]
    return [library.MicroMoment(f'm{m}', value, part) for m, (value, part) in enumerate(zip(values, parts))]


def simulate() -> dict[str, np.ndarray]:
    """PyBLP's simulated product and agent data, as flat columns named `<table>:<column>`."""
    import pyblp
    ids = pyblp.build_id_data(T=T, J=J, F=3)
    position = np.tile(np.arange(J), T)
    data = {'market_ids': ids.market_ids[:, 0], 'firm_ids': ids.firm_ids[:, 0], 'nesting_ids': position % 2,
            'product_ids': np.c_[position % 2, 10 * (position % 2) + position // 4]}
    simulation = pyblp.Simulation(
        product_formulations=(pyblp.Formulation('1 + prices + x'), pyblp.Formulation('1 + x'),
                              pyblp.Formulation('0 + x + z')),
        beta=[1, -2, 1], sigma=SIGMA, pi=PI, gamma=[1, 2], rho=RHO, agent_formulation=pyblp.Formulation('0 + income'),
        product_data=data, integration=pyblp.Integration('product', 3), seed=1)
    products = pd.DataFrame(pyblp.data_to_dict(simulation.replace_endogenous().product_data))
    products = products[['market_ids', 'firm_ids', 'nesting_ids', 'product_ids0', 'product_ids1', 'shares', 'prices',
                         'x', 'z']]
    x, z = products['x'], products['z']
    for k, instrument in enumerate((z, z ** 2, x * z, x ** 2, x ** 2 * z)):
        products[f'demand_instruments{k}'] = instrument
    agents = pd.DataFrame(pyblp.data_to_dict(simulation.agent_data))[['market_ids', 'weights', 'nodes0', 'nodes1',
                                                                       'income']]
    arrays = {f'products:{name}': products[name].to_numpy(dtype=float) for name in products.columns}
    arrays.update({f'agents:{name}': agents[name].to_numpy(dtype=float) for name in agents.columns})
    return arrays


def table(arrays: dict[str, np.ndarray], name: str) -> pd.DataFrame:
    return pd.DataFrame({key.split(':', 1)[1]: value for key, value in arrays.items() if key.startswith(f'{name}:')})


def solve(library: Any, arrays: dict[str, np.ndarray], values: list[float], start: dict, optimize: bool) -> Any:
    """`library`'s results at `start` (optimize False: evaluated there) with these observed micro values."""
    problem = library.Problem((library.Formulation('1 + prices + x'), library.Formulation('1 + x')),
                              table(arrays, 'products'), library.Formulation('0 + income'), table(arrays, 'agents'))
    optimization = library.Optimization('l-bfgs-b', {'gtol': 1e-10}) if optimize else library.Optimization('return')
    return problem.solve(**start, rho_bounds=([0, 0], [0.9, 0.9]), optimization=optimization, method='1s',
                         iteration=library.Iteration(*ITERATION), micro_moments=micro_moments(library, values))


def outputs(library: Any, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Micro values, objective and gradient at the truth and at FIXED, then the estimates from FIXED."""
    values = list(arrays['observed'])
    found: dict[str, np.ndarray] = {}
    for name, start in (('truth', dict(sigma=SIGMA, pi=PI, rho=RHO)), ('fixed', FIXED)):
        results = solve(library, arrays, values, start, optimize=False)
        found.update({f'{name}:micro_values': np.asarray(results.micro_values, dtype=float).ravel(),
                      f'{name}:objective': np.asarray(results.objective, dtype=float).ravel(),
                      f'{name}:gradient': np.asarray(results.gradient, dtype=float).ravel()})
    results = solve(library, arrays, values, FIXED, optimize=True)
    for key in ('sigma', 'pi', 'rho', 'beta', 'sigma_se', 'pi_se', 'rho_se', 'beta_se', 'objective', 'micro_values'):
        found[f'estimate:{key}'] = np.asarray(getattr(results, key), dtype=float).ravel()
    return found


def generate() -> dict[str, np.ndarray]:
    import pyblp
    pyblp.options.verbose = False
    arrays = simulate()
    truth = solve(pyblp, arrays, [0.0] * len(SHIFTS), dict(sigma=SIGMA, pi=PI, rho=RHO), optimize=False)
    arrays['observed'] = np.asarray(truth.micro_values, dtype=float).ravel() + SHIFTS
    arrays.update({f'pyblp:{key}': value for key, value in outputs(pyblp, arrays).items()})
    arrays['pyblp_version'] = np.array(pyblp.__version__)
    return arrays


if __name__ == '__main__':
    np.savez_compressed(FIXTURE, **generate())
    print(f'{FIXTURE.name}: written', flush=True)
