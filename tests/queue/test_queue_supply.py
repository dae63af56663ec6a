"""A supply side through the HTTP API, a real Redis and a real Celery worker: PyBLP's BLP-autos replication end to end
(estimates against PyBLP's stored numbers), and a merger on the simulated market priced at the estimated costs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from queue_support import merger, submit, upload, wait_for
from supply_workloads import AUTOS_PI, AUTOS_SIGMA, FIXTURES, SUPPLY_WORKLOADS

pytestmark = pytest.mark.queue


def parameters(result: dict, kind: str) -> dict:
    return {(entry['row'], entry['column']): entry for entry in result['results']['parameters']
            if entry['kind'] == kind}


def test_blp_autos_with_log_costs_through_the_api_matches_pyblp(api):
    workload = SUPPLY_WORKLOADS['supply_blp_autos']()
    reference = json.loads((FIXTURES / 'supply_blp_autos.json').read_text())
    formulations = [{'formula': formula} for formula, _ in workload['formulations']]
    spec = {'problem': {'product_formulations': formulations, 'agent_formulation': {'formula': '0 + I(1 / income)'},
                        'costs_type': 'log'},
            'solve': {'sigma': AUTOS_SIGMA.tolist(), 'pi': AUTOS_PI, 'costs_bounds': [0.001, None],
                      'W_type': 'clustered', 'se_type': 'clustered', 'initial_update': True,
                      'iteration': {'method': 'squarem', 'method_options': {'atol': 1e-14}}}}
    job = submit(api, spec, upload(api, workload['products']), upload(api, workload['agents'])).json()
    finished = wait_for(api, job['id'], timeout=900)
    assert finished['status'] == 'succeeded', finished
    result = api.get(f"/v1/jobs/{job['id']}/result").json()
    gamma = parameters(result, 'gamma')
    assert [row for row, _ in gamma] == reference['gamma_labels']
    np.testing.assert_allclose([entry['value'] for entry in gamma.values()], np.ravel(reference['gamma']), rtol=1e-3)
    np.testing.assert_allclose([entry['se'] for entry in gamma.values()], np.ravel(reference['gamma_se']), rtol=1e-2)
    beta = parameters(result, 'beta')
    np.testing.assert_allclose([beta[(label, None)]['value'] for label in reference['beta_labels']],
                               np.ravel(reference['beta']), rtol=1e-3)
    price_income = parameters(result, 'pi')[('prices', '1/income')]['value']
    assert price_income == pytest.approx(np.ravel(reference['pi'])[1], rel=1e-3)
    assert result['results']['objective'] <= reference['objective'] * (1 + 1e-6)
    assert result['results']['dimensions']['K3'] == 6 and result['results']['clipped_costs'] == 0


def test_a_merger_after_a_joint_estimate_prices_at_the_estimated_costs(api):
    workload = SUPPLY_WORKLOADS['supply_simulation']()
    spec = {'problem': {'product_formulations': [{'formula': formula} for formula, _ in workload['formulations']]},
            'solve': {'sigma': [[0.5]], 'beta': [None, -1.0, None], 'method': '2s',
                      'optimization': {'method': 'l-bfgs-b', 'method_options': {'gtol': 1e-10}}}}
    products = workload['products']
    products = products.assign(product_ids='p' + products.groupby('market_ids').cumcount().astype(str))
    job = submit(api, spec, upload(api, products), upload(api, workload['agents'])).json()
    assert wait_for(api, job['id'], timeout=300)['status'] == 'succeeded'
    result = api.get(f"/v1/jobs/{job['id']}/result").json()
    truth = workload['truth']['gamma']
    gamma = [(entry['value'], entry['se']) for entry in parameters(result, 'gamma').values()]
    assert all(abs(value - true) < 3 * se for (value, se), true in zip(gamma, truth))
    table = merger(api, job['id'], {'1': '0'})
    assert all(market['converged'] for market in table['markets'])
    assert all(row['cost_before'] == pytest.approx(row['cost_after'], rel=1e-12) for row in table['products'])


def test_log_costs_at_nonpositive_implied_costs_fail_the_job_with_a_problem_naming_the_cause(api):
    """Whether implied costs are positive is known only once the inner loop has run at the starting values, so the
    API accepts the job and the worker ends it `failed` with a problem naming costs_type, the market and product."""
    workload = SUPPLY_WORKLOADS['supply_cereal']()
    spec = {'problem': {'product_formulations': [{'formula': '0 + prices', 'absorb': 'C(market_ids) + C(product_ids)'},
                                                 None, {'formula': '1 + mushy'}], 'costs_type': 'log'},
            'solve': {'beta': [-1.0], 'method': '1s'}}
    job = submit(api, spec, upload(api, workload['products'])).json()
    finished = wait_for(api, job['id'], timeout=120)
    assert finished['status'] == 'failed', finished
    error = finished['error']
    assert error['status'] == 422 and error['parameter'] == 'costs_type', error
    assert 'costs_bounds' in error['detail'] and 'market' in error['detail']
