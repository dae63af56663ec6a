"""Regenerate PyBLP's micro and agent scores with lognormal coefficients, nests (rho) and beta in theta:
`PYTHONPATH=. python tests/reference/generate_score_fixtures.py [case ...]`.

Each case simulates a small problem with PyBLP (data, agents, micro data drawn by `simulate_micro_data`), evaluates
it at the true theta with `Optimization('return')` (nothing is estimated, a case takes seconds) and computes scores
three ways: micro scores with integration, agent scores with integration, and micro scores over the micro data's own
nodes and weights (two rows per observation); and micro and agent scores of second choices, also with eliminated
product ids (whole nests with nests).
`fixtures/scores_<case>.npz` keeps the product, agent and micro data (so blp needs no simulation) and PyBLP's scores;
`problem_at` and `score_outputs` run the same calls on either library.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np
import pandas as pd

for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ.setdefault(variable, '1')

from workloads import ROOT  # noqa: E402

FIXTURES = ROOT / 'tests' / 'reference' / 'fixtures'
SIGMA, PI = [[0.5, 0], [0, 0.3]], [[0.4], [0.2]]
# X2, rc_types, rho (None: no nests), beta given to solve (None elements concentrated out; a number puts it in theta)
CASES: dict[str, dict[str, Any]] = {
    'lognormal': dict(X2='1 + x', rc_types=['linear', 'log'], rho=None, beta=None),
    'rcnl': dict(X2='1 + prices', rc_types=None, rho=0.3, beta=[None, -2.0, None]),
    'rcnl_lognormal_per_nest': dict(X2='1 + x', rc_types=['linear', 'log'], rho=[[0.3], [0.5]], beta=None),
}
INTEGRATION = ('product', 4)


def with_outside(t: Any, products: Any, agents: Any) -> np.ndarray:
    return np.ones((agents.size, 1 + products.size))


def inside_by_income(t: Any, products: Any, agents: Any) -> np.ndarray:
    return np.ones((agents.size, products.size)) * (1 + agents.demographics[:, [0]])


def inside_then_any(t: Any, products: Any, agents: Any) -> np.ndarray:
    return np.ones((agents.size, products.size, 1 + products.size))


def datasets(library: Any) -> dict[str, Any]:
    """Four datasets: all choices in markets 1 and 3, inside choices weighted by income everywhere, second choices
    (any, after an inside first choice) in markets 0 and 2, and the same in markets 1 and 3 with the first choice's
    product id group eliminated."""
    return {'outside': library.MicroDataset('outside', 30, with_outside, market_ids=[1, 3]),
            'inside': library.MicroDataset('inside', 12, inside_by_income),
            'second': library.MicroDataset('second', 20, inside_then_any, market_ids=[0, 2]),
            'eliminated': library.MicroDataset('eliminated', 20, inside_then_any, eliminated_product_ids_index=0,
                                               market_ids=[1, 3])}


def simulate(case: dict) -> dict[str, np.ndarray]:
    """PyBLP's simulated product, agent and micro data of a case, as flat columns named `<table>:<column>`."""
    import pyblp
    ids = pyblp.build_id_data(T=6, J=5, F=5)
    data: dict[str, Any] = {'market_ids': ids.market_ids[:, 0], 'firm_ids': ids.firm_ids[:, 0]}
    data['product_ids'] = np.arange(ids.market_ids.size) % 2  # eliminated together (whole nests with nests)
    if case['rho'] is not None:
        data['nesting_ids'] = np.arange(ids.market_ids.size) % 2
    simulation = pyblp.Simulation(
        product_formulations=(pyblp.Formulation('1 + prices + x'), pyblp.Formulation(case['X2']),
                              pyblp.Formulation('0 + x + z')),
        beta=[1, -2, 2], sigma=SIGMA, pi=PI, gamma=[1, 4], rho=case['rho'],
        agent_formulation=pyblp.Formulation('0 + income'), product_data=data,
        integration=pyblp.Integration('product', 3), rc_types=case['rc_types'], seed=0)
    simulated = simulation.replace_endogenous()
    products = pd.DataFrame(pyblp.data_to_dict(simulated.product_data))
    products = products[[column for column in products.columns if column in (
        'market_ids', 'firm_ids', 'nesting_ids', 'product_ids', 'shares', 'prices', 'x', 'z')]]
    x, z = products['x'], products['z']
    for k, instrument in enumerate((z, z ** 2, z ** 3, x * z, x ** 2, x ** 3, x ** 2 * z)):  # enough moments for theta
        products[f'demand_instruments{k}'] = instrument
    agents = pd.DataFrame(pyblp.data_to_dict(simulation.agent_data))
    agents = agents[['market_ids', 'weights', 'nodes0', 'nodes1', 'income']]
    theirs = problem_at(pyblp, case, products, agents)
    indexed = agents.assign(agent_indices=agents.groupby('market_ids').cumcount())
    arrays = {f'products:{name}': numeric(products[name]) for name in products.columns}
    arrays.update({f'agents:{name}': numeric(agents[name]) for name in agents.columns})
    for name, seed in [('outside', 0), ('inside', 1), ('second', 2), ('eliminated', 3)]:
        drawn = pd.DataFrame(pyblp.data_to_dict(theirs.simulate_micro_data(datasets(pyblp)[name], seed=seed)))
        micro = drawn.merge(indexed, on=['market_ids', 'agent_indices']).sort_values('micro_ids')
        arrays.update({f'micro_{name}:{column}': numeric(micro[column]) for column in (
            'micro_ids', 'market_ids', 'choice_indices', 'nodes0', 'nodes1', 'income') + (
            ('second_choice_indices',) if name in ('second', 'eliminated') else ())})
    return arrays


def numeric(column: pd.Series) -> np.ndarray:
    """A column as numbers (PyBLP's ids are objects, which npz would pickle): integers when they are whole."""
    values = column.to_numpy(dtype=float)
    return values.astype(np.int64) if np.all(values == np.round(values)) else values


def table(arrays: dict[str, np.ndarray], name: str) -> pd.DataFrame:
    return pd.DataFrame({key.split(':', 1)[1]: value for key, value in arrays.items()
                         if key.startswith(f'{name}:')})


def problem_at(library: Any, case: dict, products: pd.DataFrame, agents: pd.DataFrame) -> Any:
    """`library`'s results of a case at the true theta, without optimizing (product_ids repeat: the eliminated
    groups)."""
    problem = library.Problem((library.Formulation('1 + prices + x'), library.Formulation(case['X2'])), products,
                              library.Formulation('0 + income'), agents, rc_types=case['rc_types'])
    given = {'rho': case['rho']} if case['rho'] is not None else {}
    if case['beta'] is not None:
        given['beta'] = [np.nan if value is None else value for value in case['beta']]
    return problem.solve(sigma=SIGMA, pi=PI, optimization=library.Optimization('return'), method='1s', **given)


def score_outputs(results: Any, library: Any, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Scores (parameters x observations) three ways; agent scores as one array per market (parameters x agents x
    choices)."""
    integration = library.Integration(*INTEGRATION)
    found = datasets(library)
    outside, inside = table(arrays, 'micro_outside'), table(arrays, 'micro_inside')
    own = pd.concat([inside.assign(nodes0=inside['nodes0'] + shift, weights=0.5) for shift in (0, 0.3)]) \
        .sort_values('micro_ids', kind='stable').reset_index(drop=True)
    outputs = {
        'micro_integration': np.array(results.compute_micro_scores(found['outside'], outside, integration)),
        'micro_own_nodes': np.array(results.compute_micro_scores(found['inside'], own)),
    }
    agent_scores = results.compute_agent_scores(found['inside'], integration=integration)
    for market in agent_scores[0]:
        outputs[f'agent_integration:{market}'] = np.array([scores[market] for scores in agent_scores])
    for name in ('second', 'eliminated'):
        outputs[f'micro_{name}'] = np.array(results.compute_micro_scores(
            found[name], table(arrays, f'micro_{name}'), integration))
        agent_scores = results.compute_agent_scores(found[name], integration=integration)
        for market in agent_scores[0]:
            outputs[f'agent_{name}:{market}'] = np.array([scores[market] for scores in agent_scores])
    return outputs


def generate(name: str) -> dict[str, np.ndarray]:
    import pyblp
    pyblp.options.verbose = False
    case = CASES[name]
    arrays = simulate(case)
    results = problem_at(pyblp, case, table(arrays, 'products'), table(arrays, 'agents'))
    arrays.update({f'pyblp:{key}': value for key, value in score_outputs(results, pyblp, arrays).items()})
    arrays['theta_labels'] = np.array(results.theta_labels)
    arrays['pyblp_version'] = np.array(pyblp.__version__)
    return arrays


if __name__ == '__main__':
    FIXTURES.mkdir(exist_ok=True)
    for name in sys.argv[1:] or CASES:
        np.savez_compressed(FIXTURES / f'scores_{name}.npz', **generate(name))
        print(f'{name}: written', flush=True)
