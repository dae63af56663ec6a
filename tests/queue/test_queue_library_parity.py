"""What the library estimates, run as jobs by a real Celery worker on a real Redis, gives the library's numbers on the
same inputs (the worker's estimate to 1e-12, its scores to 1e-12): gamma optimized in theta with log costs, a scaled
logit error (epsilon_scale = 1.5) with a supply side, micro and agent scores of a finished estimate, through the API
and the client (`POST /v1/jobs/{id}/micro-scores`, `/agent-scores`), and a merger with costs that move with shares
(`constant_costs` false). Small simulated problems: a few seconds each."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from epsilon_scale_workloads import demand
from queue_support import submit, upload, wait_for
from simulation_option_workloads import ids, simulate
from threadpoolctl import threadpool_limits

import blp
import blp_client
from blp.configurations.integration import Integration
from blp.estimation.estimator import restore
from blp.micro.from_spec import build_micro_dataset
from blp.spec import EstimateSpec, solve_options
from blp.spec.micro import MicroDatasetSpec

pytestmark = pytest.mark.queue


@pytest.fixture(scope='module', autouse=True)
def one_blas_thread():
    """The library here on one BLAS thread, as the worker pins it (`worker/__init__.py`): with two (this process's
    default on two cores) BLAS sums in another order and the estimates land 1e-11 apart after the optimizer."""
    with threadpool_limits(1):
        yield
RTOL = 1e-12
FORMULATIONS = [{'formula': '1 + prices + v'}, {'formula': '0 + prices'}, {'formula': '1 + x + w'}]
# Threads left to the worker (what it can spare), the library here on one: the estimates do not depend on them.
SOLVE = {'sigma': 0.3, 'pi': [[0.1]], 'beta': [None, -1, None], 'method': '1s',
         'optimization': {'method': 'l-bfgs-b', 'method_options': {'gtol': 1e-10}}}
# gamma on the constant optimized in theta (within [0, 1]), the others concentrated out, costs log-linear
GAMMA_SPEC = {'problem': {'product_formulations': FORMULATIONS, 'agent_formulation': {'formula': '0 + income'},
                          'costs_type': 'log'},
              'solve': {**SOLVE, 'beta': [None, -3, None], 'gamma': [0.5, None, None],
                        'gamma_bounds': [[0, None, None], [1, None, None]]}}
SCALED_SPEC = {'problem': {'product_formulations': FORMULATIONS, 'agent_formulation': {'formula': '0 + income'},
                           'epsilon_scale': 1.5},
               'solve': SOLVE}
SURVEY = {'name': 'survey', 'observations': 200, 'first_choices': 'all', 'market_ids': [0, 1, 2]}
BUYERS = {'name': 'buyers of x', 'observations': 100, 'products': 'x', 'second_choices': 'inside'}


def simulated(epsilon_scale: float, costs_type: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Product and agent data of a small simulation (40 markets of 6 products, 5 agents each) at its equilibrium."""
    problem = simulate(blp, {**demand(blp, epsilon_scale), 'costs_type': costs_type}).replace_endogenous().to_problem()
    assert problem.agents is not None
    return problem.products.frame, problem.agents.frame


def run(api: Any, spec: dict, products: pd.DataFrame, agents: pd.DataFrame) -> tuple[str, dict, Any]:
    """The job's id and stored result, and the library's results of the same spec on the same data."""
    job = submit(api, spec, upload(api, products), upload(api, agents)).json()
    finished = wait_for(api, job['id'], timeout=180)
    assert finished['status'] == 'succeeded', finished
    parsed = EstimateSpec.model_validate(spec)
    library = blp.Problem.from_spec(parsed.problem, products, agents).estimate(solve_options(parsed.solve))
    return job['id'], api.get(f"/v1/jobs/{job['id']}/result").json()['results'], library


def assert_same_estimate(stored: dict, library: Any) -> None:
    """Every parameter, standard error and the objective of the worker's estimate are the library's."""
    expected = library.to_document()
    assert [(p['kind'], p['row'], p['column'], p['fixed']) for p in stored['parameters']] == \
        [(p['kind'], p['row'], p['column'], p['fixed']) for p in expected['parameters']]
    for name in ('value', 'se'):
        np.testing.assert_allclose([p[name] for p in stored['parameters']], [p[name] for p in expected['parameters']],
                                   rtol=RTOL, atol=0, err_msg=name)
    np.testing.assert_allclose(stored['objective'], expected['objective'], rtol=RTOL, atol=0)
    assert stored['restore']['free'] == expected['restore']['free']


@pytest.fixture(scope='module')
def gamma_job(api) -> tuple[str, dict, Any]:
    return run(api, GAMMA_SPEC, *simulated(1.0, 'log'))


def test_gamma_in_theta_with_log_costs_is_the_librarys_estimate(gamma_job):
    _, stored, library = gamma_job
    assert_same_estimate(stored, library)
    assert library.theta_labels[-1] == '1' and len(library.theta) == 4  # sigma, pi, beta on prices, gamma on 1
    assert [kind for kind, _ in stored['restore']['free']].count('gamma') == 1
    gamma = [p for p in stored['parameters'] if p['kind'] == 'gamma']
    assert [p['row'] for p in gamma] == ['1', 'x', 'w'] and 0 <= gamma[0]['value'] <= 1


def test_a_scaled_logit_error_is_the_librarys_estimate(api):
    _, stored, library = run(api, SCALED_SPEC, *simulated(1.5, 'linear'))
    assert float(library.problem.epsilon_scale) == 1.5
    assert_same_estimate(stored, library)


def test_micro_and_agent_scores_of_a_job_are_the_librarys(api, gamma_job):
    job_id, _, library = gamma_job
    survey, buyers = (build_micro_dataset(MicroDatasetSpec.model_validate(d), library.problem) for d in (SURVEY, BUYERS))
    state = np.random.default_rng(0)
    micro = pd.DataFrame({'market_ids': np.repeat([0, 1, 2], 4), 'choice_indices': state.integers(0, 7, 12),
                          'income': state.lognormal(size=12)})
    with blp_client.Client('http://testserver', transport=api._transport) as client:
        scores = client.micro_scores(job_id, SURVEY, micro, integration={'specification': 'product', 'size': 4})
        agent = client.agent_scores(job_id, BUYERS)
    assert scores.parameters == list(library.theta_labels)
    expected = library.compute_micro_scores(survey, micro, Integration.seeded('product', 4, 0))
    np.testing.assert_allclose(np.array(scores.scores, dtype=float), np.array(expected), rtol=RTOL, atol=0)
    assert np.isfinite(np.array(scores.scores[0], dtype=float)).all()
    for ours, theirs in zip(agent.scores, library.compute_agent_scores(buyers), strict=True):
        assert list(ours) == [str(market) for market in theirs]
        for market, values in theirs.items():
            assert values.shape == (5, 7, 7)  # agents x first x second choices (the outside good's weight 0)
            np.testing.assert_allclose(np.array(ours[str(market)], dtype=float), values, rtol=RTOL, atol=0)


def test_a_merger_with_costs_moving_with_shares_is_the_librarys(api):
    """Costs 1 + z + shares: with `constant_costs` false the job's equilibrium and costs after are the library's
    counterfactual of the same stored estimate (restored as the worker restores it), and differ from constant costs."""
    simulation = simulate(blp, dict(
        product_formulations=(blp.Formulation('1 + prices + x'), blp.Formulation('0 + x'),
                              blp.Formulation('1 + z + shares')),
        beta=[1, -2, 2], sigma=1, gamma=[1, 0.5, 2], integration=blp.Integration('product', 9), seed=0,
        product_data=ids(20, 6, 3)))
    problem = simulation.replace_endogenous(constant_costs=False).to_problem()
    assert problem.agents is not None
    products = problem.products.frame.assign(product_ids=lambda frame: 'p' + frame.groupby('market_ids').cumcount()
                                             .astype(str))
    spec = {'problem': {'product_formulations': [{'formula': '1 + prices + x'}, {'formula': '0 + x'},
                                                 {'formula': '1 + z + shares'}]},
            'solve': {'sigma': 1, 'beta': [None, -2, None], 'method': '1s',
                      'optimization': {'method': 'return'}}}
    job_id, stored, _ = run(api, spec, products, problem.agents.frame)
    parsed = EstimateSpec.model_validate(spec)
    library = restore(blp.Problem.from_spec(parsed.problem, products, problem.agents.frame), stored)
    firm_ids = products['firm_ids'].astype(str).replace({'1': '0'}).to_numpy()
    tables = {}
    for constant in (False, True):
        with blp_client.Client('http://testserver', transport=api._transport) as client:
            job = client.counterfactual(job_id, firm_ids={'1': '0'}, constant_costs=constant, timeout=120)
            tables[constant] = api.get(f"/v1/jobs/{job['id']}/result").json()
    expected = library.counterfactual(firm_ids=firm_ids, constant_costs=False)
    moving = tables[False]
    assert moving['provenance']['request']['constant_costs'] is False
    for name in ('price_after', 'share_after', 'cost_after', 'cost_before'):
        np.testing.assert_allclose([row[name] for row in moving['products']],
                                   [row[name] for row in expected['products']], rtol=RTOL, atol=0, err_msg=name)
    costs = {constant: np.array([row['cost_after'] for row in tables[constant]['products']]) for constant in tables}
    np.testing.assert_array_equal(costs[True], [row['cost_before'] for row in tables[True]['products']])
    assert np.abs(costs[False] - costs[True]).max() > 1e-3
