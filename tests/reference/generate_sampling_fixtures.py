"""Regenerate PyBLP's passthrough, micro values and importance sampling reference numbers:
`PYTHONPATH=. python tests/reference/generate_sampling_fixtures.py [case ...]`.

Nothing is estimated: PyBLP is evaluated at the theta stored by the estimates' fixtures (`postestimation_<name>.npz`
or `supply_cereal.json` for passthrough, `exercise3_diversion.json` for micro values and importance sampling) with
`Optimization('return')`, so a case takes seconds. `passthrough_outputs`, `micro_value_outputs` and
`sampling_outputs` call only methods PyBLP's and blp's results share, so the tests run the very same functions on
blp's results. Writes `fixtures/sampling_<case>.npz`.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import numpy as np

for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ.setdefault(variable, '1')

from micro_workloads import MICRO_WORKLOADS, exercise3_micro_moments  # noqa: E402
from supply_workloads import SUPPLY_WORKLOADS  # noqa: E402
from workloads import ROOT, WORKLOADS, cereal  # noqa: E402

FIXTURES = ROOT / 'tests' / 'reference' / 'fixtures'
ITERATION = ('squarem', {'atol': 1e-14})

# Passthrough at the post-estimation fixtures' theta: all markets (matrices of every MATRIX_STEP-th market in sorted
# order), a merger's ownership (firm_ids.replace(old, new)) and one market alone.
PASSTHROUGH: dict[str, dict[str, Any]] = {
    'nevo': dict(merger=(2, 1), market='C01Q1'),
    'nevo_nested_logit': dict(merger=(2, 1), market='C01Q1'),
    'nevo_rcnl': dict(merger=(2, 1), market='C01Q1'),
    'cereal_sigma_prices': dict(merger=('F6', 'F4'), market='C01Q2'),
    'cereal_lognormal_prices': dict(merger=('F6', 'F4'), market='C01Q2'),
    'supply_cereal': dict(merger=('F6', 'F4'), market='C01Q2'),  # with a supply side (linear costs)
}
MATRIX_STEP = 12
# Importance sampling from 200 candidate agents per market at exercise 3's (diversion) estimates: the candidates as
# agent data, and the same demographics with nodes from a product rule, a larger accept/reject constant and delta
# given.
SAMPLING: dict[str, dict[str, Any]] = {
    'agent_data': dict(draws=10, seed=0),
    'integration': dict(draws=8, seed=3, ar_constant=1.5, integration=('product', 5), delta=True),
}
CANDIDATES, CANDIDATE_SEED = 200, 7
MICRO_WORKLOAD = 'exercise3_diversion'


def problem_at(library: Any, workload: dict, theta: dict, micro: bool = False, agents: Any = None) -> Any:
    """`library`'s results of a workload at the given theta (sigma, pi, rho), without optimizing; `agents` replaces
    the problem (a re-created one, e.g. `to_problem()`)."""
    problem = agents
    if problem is None:
        formulations = [library.Formulation(formula, absorb=absorb) for formula, absorb in workload['formulations']]
        agent_formulation = library.Formulation(workload['agent_formulation']) if 'agent_formulation' in workload \
            else None
        if len(formulations) == 1:
            problem = library.Problem(formulations, workload['products'])
        else:
            problem = library.Problem(formulations, workload['products'], agent_formulation, workload.get('agents'),
                                      rc_types=workload.get('rc_types'), **workload.get('problem', {}))
    given = {key: np.asarray(value) for key, value in theta.items() if value is not None and np.size(value)}
    extra = {'micro_moments': workload['micro'](library)} if micro else {}
    return problem.solve(**given, method='1s', optimization=library.Optimization('return'),
                         iteration=library.Iteration(*ITERATION), **extra)


def passthrough_workload(name: str) -> dict:
    return SUPPLY_WORKLOADS[name]() if name in SUPPLY_WORKLOADS else WORKLOADS[name]()


def passthrough_theta(name: str) -> dict:
    """PyBLP's estimated theta (and with a supply side beta, which is not concentrated out)."""
    if name in SUPPLY_WORKLOADS:
        stored = json.loads((FIXTURES / f'{name}.json').read_text())
        return {key: stored[key] for key in ('sigma', 'pi', 'beta')}
    with np.load(FIXTURES / f'postestimation_{name}.npz') as arrays:
        return {key: arrays[key] for key in ('sigma', 'pi', 'rho')}


def micro_theta() -> dict:
    stored = json.loads((FIXTURES / f'{MICRO_WORKLOAD}.json').read_text())
    return {key: stored[key] for key in ('sigma', 'pi')}


def passthrough_outputs(results: Any, products: Any, case: dict) -> dict[str, np.ndarray]:
    """Passthrough under the observed and a merger's ownership (sampled markets) and in one market."""
    market_ids = products['market_ids'].astype(str)
    rows = market_ids.isin(np.unique(market_ids.to_numpy())[::MATRIX_STEP]).to_numpy()
    merged = products['firm_ids'].replace(*case['merger']).to_numpy()
    return {'passthrough': np.asarray(results.compute_passthrough(), dtype=float)[rows],
            'merger_passthrough': np.asarray(results.compute_passthrough(firm_ids=merged), dtype=float)[rows],
            'market_passthrough': np.asarray(results.compute_passthrough(market_id=case['market']), dtype=float)}


def extra_micro_moments(library: Any) -> list:
    """Moments exercise 3 was not matched to: E[prices | inside] in every market (first choices, the outside good
    left out) and a ratio of two parts on the diversion survey, E[mushy second] / E[log income], by compute_value."""
    everywhere = library.MicroDataset('Everywhere', 500, lambda t, p, a: np.ones((a.size, p.size)))
    diversion = library.MicroDataset('Diversion2', 200, lambda t, p, a: np.ones((a.size, 1 + p.size, 1 + p.size)),
                                     market_ids=['C01Q1', 'C01Q2', 'C03Q1'])
    mushy = library.MicroPart('mushy second', diversion, lambda t, p, a: np.einsum(
        'i,j,k->ijk', np.ones(a.size), np.ones(1 + p.size), np.r_[0, p.X2[:, 1]]))
    income = library.MicroPart('log income', diversion, lambda t, p, a: np.einsum(
        'i,j,k->ijk', a.demographics[:, 0], np.ones(1 + p.size), np.ones(1 + p.size)))
    return [library.MicroMoment('E[prices | inside]', 0.1, library.MicroPart(
                'prices | inside', everywhere, lambda t, p, a: np.outer(np.ones(a.size), p.prices))),
            library.MicroMoment('mushy second / log income', 0.1, [mushy, income],
                                compute_value=lambda v: v[0] / v[1],
                                compute_gradient=lambda v: np.array([1 / v[1], -v[0] / v[1] ** 2]))]


def micro_value_outputs(results: Any, library: Any) -> dict[str, np.ndarray]:
    return {'exercise_micro_values': np.asarray(results.compute_micro_values(
                exercise3_micro_moments(library, 'all')), dtype=float),
            'extra_micro_values': np.asarray(results.compute_micro_values(extra_micro_moments(library)),
                                             dtype=float)}


def candidate_agents() -> Any:
    return cereal.agent_data(size=CANDIDATES, seed=CANDIDATE_SEED)


def sampling_outputs(results: Any, library: Any, case: dict) -> tuple[Any, dict[str, np.ndarray]]:
    """Importance sampling results and their sampled agents' market ids, weights, nodes and log income, the
    diagnostics, and the re-created problem's objective, beta and micro values at the same theta."""
    arguments = dict(seed=case['seed'], ar_constant=case.get('ar_constant', 1.0), agent_data=candidate_agents())
    if 'integration' in case:
        arguments['integration'] = library.Integration(*case['integration'])
    if case.get('delta'):
        arguments['delta'] = results.delta
    sampled = results.importance_sampling(case['draws'], **arguments)
    agents = sampled.sampled_agents
    if hasattr(agents, 'columns'):  # blp: agent data
        frame = agents
        market_ids, weights = frame['market_ids'].astype(str).to_numpy(), frame['weights'].to_numpy()
        nodes = frame[[f'nodes{k}' for k in range(3)]].to_numpy()
        income = frame['log_income'].to_numpy()
    else:  # PyBLP: a record array with a nodes matrix and demographics
        market_ids, weights = np.asarray(agents.market_ids, dtype=str).ravel(), agents.weights[:, 0]
        nodes, income = agents.nodes, agents.demographics[:, 0]
    workload = MICRO_WORKLOADS[MICRO_WORKLOAD]()
    updated = problem_at(library, workload, micro_theta(), micro=True, agents=sampled.to_problem())
    return sampled, {
        'market_ids': np.asarray(market_ids, dtype=str), 'weights': np.asarray(weights, dtype=float),
        'nodes': np.asarray(nodes, dtype=float),
        'log_income': np.asarray(income, dtype=float),
        'diagnostic_market_ids': np.asarray(sampled.diagnostic_market_ids, dtype=str).ravel(),
        **{name: np.asarray(getattr(sampled, name), dtype=float).ravel() for name in (
            'weight_sums', 'effective_draws', 'effective_draws_for_variance', 'effective_draws_for_skewness')},
        'objective': np.asarray(updated.objective, dtype=float).ravel(),
        'beta': np.asarray(updated.beta, dtype=float), 'micro_values': np.asarray(updated.micro_values,
                                                                                 dtype=float).ravel()}


def generate(case: str) -> dict[str, np.ndarray]:
    """PyBLP's outputs of a case: `passthrough_<workload>`, `micro_values` or `importance_<variant>`."""
    import pyblp
    pyblp.options.verbose = False
    if case.startswith('passthrough_'):
        name = case.removeprefix('passthrough_')
        workload = passthrough_workload(name)
        results = problem_at(pyblp, workload, passthrough_theta(name))
        arrays = passthrough_outputs(results, workload['products'], PASSTHROUGH[name])
    elif case == 'micro_values':
        results = problem_at(pyblp, MICRO_WORKLOADS[MICRO_WORKLOAD](), micro_theta())
        arrays = micro_value_outputs(results, pyblp)
    else:
        results = problem_at(pyblp, MICRO_WORKLOADS[MICRO_WORKLOAD](), micro_theta())
        sampled, arrays = sampling_outputs(results, pyblp, SAMPLING[case.removeprefix('importance_')])
        arrays['summary'] = np.array(repr(sampled))
    arrays['pyblp_version'] = np.array(pyblp.__version__)
    return arrays


CASES = [f'passthrough_{name}' for name in PASSTHROUGH] + ['micro_values'] + [f'importance_{name}' for name in SAMPLING]

if __name__ == '__main__':
    FIXTURES.mkdir(exist_ok=True)
    for case in sys.argv[1:] or CASES:
        np.savez_compressed(FIXTURES / f'sampling_{case}.npz', **generate(case))
        print(f'{case}: written', flush=True)
