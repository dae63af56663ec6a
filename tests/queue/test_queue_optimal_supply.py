"""Optimal instruments with a supply side through the API and a real worker: a finished estimate of the simulated
supply workload re-estimated with optimal instruments (`POST /v1/jobs/{id}/optimal-instruments`: Z_D with the supply
shifter, Z_S) gives PyBLP's re-estimate (`fixtures/optimal_supply.json`: estimates 1e-4, SEs 1e-3, objective 1e-6)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from generate_optimal_fixtures import FIXTURES
from queue_support import submit, upload, wait_for
from supply_workloads import SUPPLY_WORKLOADS
from test_against_pyblp import assert_close

pytestmark = pytest.mark.queue


def test_optimal_instruments_of_a_supply_estimate_match_pyblp(api):
    workload = SUPPLY_WORKLOADS['supply_simulation']()
    products, agents = upload(api, workload['products']), upload(api, workload['agents'])
    spec = {'problem': {'product_formulations': [{'formula': formula} for formula, _ in workload['formulations']]},
            'solve': {'sigma': [[0.5]], 'beta': [None, -1, None], 'method': '2s',
                      'optimization': {'method': 'l-bfgs-b', 'method_options': {'gtol': 1e-10}}}}
    job = submit(api, spec, products, agents).json()
    assert wait_for(api, job['id'], timeout=300)['status'] == 'succeeded'
    response = api.post(f"/v1/jobs/{job['id']}/optimal-instruments", json={})
    assert response.status_code == 202, response.text
    finished = wait_for(api, response.json()['id'], timeout=300)
    assert finished['status'] == 'succeeded', finished
    results = api.get(f"/v1/jobs/{response.json()['id']}/result").json()['results']
    reference = json.loads((FIXTURES / 'optimal_supply.json').read_text())['re_estimate']
    values = {(entry['kind'], entry['row'], entry['column']): entry for entry in results['parameters']}
    summary = {'objective': results['objective'], 'rho': None, 'rho_se': None, 'pi': None, 'pi_se': None,
               'sigma': [[values[('sigma', 'x', 'x')]['value']]], 'sigma_se': [[values[('sigma', 'x', 'x')]['se']]],
               'beta': [[values[('beta', label, None)]['value']] for label in ('1', 'prices', 'x')],
               'beta_se': [[values[('beta', label, None)]['se']] for label in ('1', 'prices', 'x')]}
    reference = {**reference, 'pi': None, 'pi_se': None}
    assert_close('optimal_supply re-estimate through the API', summary, reference)
    gamma = [values[('gamma', label, None)]['value'] for label in ('x', 'z')]
    np.testing.assert_allclose(gamma, np.ravel(reference['gamma']), rtol=1e-4)
